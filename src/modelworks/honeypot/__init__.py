"""HoneypotNet: backdoor models stolen by extraction, and prove ownership.

Public names are imported lazily (torch stays out of ``modelworks --help``)::

    from modelworks.honeypot import build_honeypot, knockoff_nets, verify_ownership
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "HoneypotConfig": "honeypotnet", "HoneypotResult": "honeypotnet", "build_honeypot": "honeypotnet",
    "honeypot_layer": "honeypotnet",
    "Trigger": "trigger", "new_trigger": "trigger", "uap_step": "trigger", "save_trigger": "trigger",
    "load_trigger": "trigger",
    "AttackConfig": "attacks", "Extraction": "attacks", "knockoff_nets": "attacks", "agreement": "attacks",
    "BlackBox": "defences", "ModelBlackBox": "defences", "HTTPBlackBox": "defences", "DefenceConfig": "defences",
    "apply_defence": "defences", "DEFENCES": "defences",
    "binomial_pvalue": "verify", "calibrate_p0": "verify", "trigger_counts": "verify", "verify_ownership": "verify",
    "VerifyResult": "verify",
    "ImageSet": "datasets", "load_images": "datasets", "DATASETS": "datasets",
    "ARCHITECTURES": "victims", "build_classifier": "victims", "train_classifier": "victims", "find_head": "victims",
    "features_of": "victims", "predict_probs": "victims", "accuracy": "victims", "save_model": "victims",
    "load_model": "victims",
    "HoneypotRunConfig": "config", "run_honeypot": "recipe", "create_predict_app": "serve",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"modelworks.honeypot.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module 'modelworks.honeypot' has no attribute {name!r}")
