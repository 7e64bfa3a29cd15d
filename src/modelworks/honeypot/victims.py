"""Victim (and substitute) classifiers: small CNNs, LeNet, an MLP and a ResNet-18-style net.

Every network here ends in ``self.head``, an ``nn.Linear`` from features to class logits. Any other
``nn.Module`` works too as long as its last operation is a linear classifier head (found by
:func:`find_head`); the honeypot replaces exactly that layer.
"""

from __future__ import annotations

import copy
from pathlib import Path

import torch
import torch.nn as nn

from modelworks.errors import UserError
from modelworks.paths import file_or_folder

__all__ = [
    "ARCHITECTURES", "build_classifier", "train_classifier", "predict_probs", "accuracy", "find_head",
    "features_of", "save_model", "load_model", "Classifier",
]

ARCHITECTURES = ("cnn", "cnn_small", "lenet", "mlp", "resnet18")


def _nn():
    import torch.nn as nn

    return nn


class Classifier(nn.Module):
    """``head(body(x))``: a feature extractor and a linear classifier head."""

    def __init__(self, body: nn.Module, feat_dim: int, num_classes: int, arch: str = "custom") -> None:
        super().__init__()
        self.body = body
        self.head = nn.Linear(feat_dim, num_classes)
        self.arch = arch

    def forward(self, x):
        return self.head(self.body(x))


class BasicBlock(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.short = nn.Sequential()
        if stride != 1 or cin != cout:
            self.short = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        out = self.bn1(self.conv1(x)).relu()
        return (self.bn2(self.conv2(out)) + self.short(x)).relu()


def build_classifier(arch: str, channels: int, image_size: int, num_classes: int, width: int = 1) -> Classifier:
    """A fresh classifier whose last layer is ``.head`` (nn.Linear)."""
    if arch not in ARCHITECTURES:
        raise UserError(f"unknown architecture '{arch}'; choose from {', '.join(ARCHITECTURES)}")
    if arch in ("cnn", "cnn_small"):
        c1, c2, hid = (32 * width, 64 * width, 128 * width) if arch == "cnn" else (16 * width, 32 * width, 64 * width)
        conv = nn.Sequential(
            nn.Conv2d(channels, c1, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(c1, c2, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
        )
    elif arch == "lenet":  # KnockoffNets' MNIST LeNet: conv20-conv50-fc500
        hid = 500
        conv = nn.Sequential(
            nn.Conv2d(channels, 20, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(20, 50, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
        )
    elif arch == "mlp":
        hid = 256 * width
        conv = nn.Flatten()
    else:
        hid = 0
        conv = _resnet18_body(channels, width)
    with torch.no_grad():
        flat = conv(torch.zeros(1, channels, image_size, image_size)).shape[1]
    body = conv if hid == 0 else nn.Sequential(conv, nn.Linear(flat, hid), nn.ReLU())
    return Classifier(body, hid or flat, num_classes, arch)


def _resnet18_body(channels: int, width: int):
    """ResNet-18 layout (BasicBlock x [2, 2, 2, 2]) with a 3x3 stem for small images."""
    base = 16 * width
    layers: list[nn.Module] = [nn.Conv2d(channels, base, 3, 1, 1, bias=False), nn.BatchNorm2d(base), nn.ReLU()]
    cin = base
    for i, cout in enumerate([base, base * 2, base * 4, base * 8]):
        for j in range(2):
            layers.append(BasicBlock(cin, cout, 2 if (j == 0 and i > 0) else 1))
            cin = cout
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten()]
    return nn.Sequential(*layers)


class HoneypotHead(nn.Module):
    """The honeypot layer: ``h(f) = W f + b`` (initialised from the victim's head), optionally plus a
    residual ReLU branch ``V relu(U f)`` (``V`` starts at zero), optionally with a top-1 guard.

    The guard (``keep_top1``) raises the logit of the victim head's top class to at least
    ``margin`` above every other logit, so the deployed model's top-1 answer is the victim's; the
    honeypot then lives in the rest of the probability vector. With ``guard_confidence > 0`` the guard
    acts only where the victim's top probability reaches that level (in-distribution inputs), leaving
    low-confidence (out-of-distribution) answers to the honeypot. With a ``detector`` (a small MLP on
    the same features, scoring "looks like the owner's own data"; see :func:`train_detector`) the guard
    acts exactly where the detector's logit reaches ``detector_threshold``. ``raw(f)`` is the unguarded output.
    """

    def __init__(self, linear: nn.Linear, hidden: int = 0, keep_top1: bool = False, margin: float = 1.0,
                 guard_confidence: float = 0.0) -> None:
        super().__init__()
        self.linear = copy.deepcopy(linear)
        self.hidden = hidden
        if hidden > 0:
            self.up = nn.Linear(linear.in_features, hidden)
            self.down = nn.Linear(hidden, linear.out_features)
            nn.init.zeros_(self.down.weight)
            nn.init.zeros_(self.down.bias)
        self.keep_top1 = keep_top1
        self.margin = margin
        self.guard_confidence = guard_confidence
        if keep_top1:
            self.victim = copy.deepcopy(linear)
            for p in self.victim.parameters():
                p.requires_grad_(False)
        self.detector: nn.Module | None = None
        self.detector_threshold = 0.0

    def set_detector(self, detector: nn.Module, threshold: float) -> None:
        """Guard by an in-distribution detector on the features instead of the victim's confidence."""
        self.detector = detector
        self.detector_threshold = float(threshold)
        for p in detector.parameters():
            p.requires_grad_(False)

    def guarded_mask(self, f, zv=None):
        """Where the guard acts (bool N x 1): the detector says "own data", or the victim is confident."""
        detector = getattr(self, "detector", None)
        if detector is not None:
            return detector(f) >= self.detector_threshold
        if zv is None:
            zv = self.victim(f)
        if self.guard_confidence <= 0:
            return torch.ones(len(f), 1, dtype=torch.bool, device=f.device)
        return zv.softmax(1).amax(1, keepdim=True) >= self.guard_confidence

    @property
    def out_features(self) -> int:
        return self.linear.out_features

    def raw(self, f):
        z = self.linear(f)
        return z + self.down(torch.relu(self.up(f))) if self.hidden > 0 else z

    def forward(self, f):
        z = self.raw(f)
        if not self.keep_top1:
            return z
        zv = self.victim(f)
        top = zv.argmax(1, keepdim=True)
        others = z.scatter(1, top, float("-inf")).max(1, keepdim=True).values
        guarded = z.scatter(1, top, torch.maximum(z.gather(1, top), others + self.margin))
        return torch.where(self.guarded_mask(f, zv), guarded, z)


def train_detector(own_feats, other_feats, hidden: int = 64, epochs: int = 30, lr: float = 3e-3,
                   recall: float = 0.995, seed: int = 0):
    """An in-distribution detector on backbone features: a small MLP scoring own data (1) vs public queries (0).

    Trained on 80% of each set (class-balanced loss); the threshold is the ``1 - recall`` quantile of its
    logits on the held-out 20% of the owner's own features, so that about ``recall`` of own-distribution
    inputs are guarded. Returns ``(detector, threshold, stats)``.
    """
    import torch.nn.functional as F

    g = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)

    def split(x):
        perm = torch.randperm(len(x), generator=g)
        cut = max(1, int(0.8 * len(x)))
        return x[perm[:cut]], x[perm[cut:]]

    own_tr, own_ho = split(own_feats)
    oth_tr, oth_ho = split(other_feats)
    scale = own_tr.abs().mean().clamp_min(1e-6)
    det = nn.Sequential(_Scale(1.0 / float(scale)), nn.Linear(own_feats.shape[1], hidden), nn.ReLU(), nn.Linear(hidden, 1))
    opt = torch.optim.Adam(det.parameters(), lr=lr)
    x = torch.cat([own_tr, oth_tr])
    y = torch.cat([torch.ones(len(own_tr)), torch.zeros(len(oth_tr))])
    w = torch.where(y > 0, len(x) / (2 * len(own_tr)), len(x) / (2 * len(oth_tr)))
    for _ in range(epochs):
        perm = torch.randperm(len(x), generator=g)
        for i in range(0, len(x), 256):
            idx = perm[i:i + 256]
            loss = F.binary_cross_entropy_with_logits(det(x[idx]).squeeze(1), y[idx], weight=w[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    det.eval()
    with torch.no_grad():
        own_scores = det(own_ho if len(own_ho) else own_tr).squeeze(1)
        threshold = float(torch.quantile(own_scores, 1.0 - recall))
        oth_scores = det(oth_ho if len(oth_ho) else oth_tr).squeeze(1)
    stats = {"detector_own_recall": float((own_scores >= threshold).float().mean()),
             "detector_public_guarded": float((oth_scores >= threshold).float().mean())}
    return det, threshold, stats


class _Scale(nn.Module):
    def __init__(self, factor: float) -> None:
        super().__init__()
        self.factor = factor

    def forward(self, x):
        return x * self.factor


def find_head(model):
    """The model's classifier head: a honeypot head, ``model.head``, or the last ``nn.Linear`` module.

    Raises a one-line UserError when the model has no linear layer at all.
    """
    nn = _nn()
    for m in model.modules():
        if isinstance(m, HoneypotHead):
            return m
    head = getattr(model, "head", None)
    if isinstance(head, nn.Linear):
        return head
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    if not linears:
        raise UserError(
            f"model {type(model).__name__} has no linear classifier head (its last layer must be nn.Linear)"
        )
    return linears[-1]


def replace_head(model, new_head) -> None:
    """Put ``new_head`` where the model's classifier head is (in place)."""
    old = find_head(model)
    for parent in model.modules():
        for name, child in parent.named_children():
            if child is old:
                setattr(parent, name, new_head)
                return
    raise UserError(f"cannot replace the classifier head of {type(model).__name__}")


def features_of(model, x, batch_size: int = 512):
    """The inputs of the classifier head for a batch of images (the frozen backbone's features).

    Captured with a forward hook, so any architecture works whose output is ``head(features)``.
    """
    import torch

    head = find_head(model)
    grabbed: list = []
    hook = head.register_forward_hook(lambda _m, inp, _out: grabbed.append(inp[0].detach()))
    try:
        model.eval()
        with torch.no_grad():
            for i in range(0, len(x), batch_size):
                model(x[i:i + batch_size])
    finally:
        hook.remove()
    return torch.cat(grabbed) if grabbed else torch.empty(0)


def check_linear_head(model, x) -> None:
    """Make sure the model's output is exactly its head applied to the head's input."""
    import torch

    head = find_head(model)
    feats = features_of(model, x[:4])
    with torch.no_grad():
        model.eval()
        out = model(x[:4])
        if feats.shape[0] != 4 or out.shape != head(feats).shape or not torch.allclose(out, head(feats), atol=1e-4):
            raise UserError(
                f"model {type(model).__name__}: its output is not its last nn.Linear applied to that layer's input; "
                "the classifier head must be the last layer"
            )


def soft_cross_entropy(logits, target_probs):
    """Cross-entropy to a probability vector: -sum p * log softmax(z), averaged over the batch."""
    return -(target_probs * logits.log_softmax(dim=1)).sum(dim=1).mean()


def train_classifier(
    model,
    x,
    y,
    epochs: int = 5,
    lr: float = 1e-3,
    batch_size: int = 128,
    weight_decay: float = 0.0,
    seed: int = 0,
    augment: bool = False,
    log=None,
):
    """Train ``model`` on images ``x`` with hard labels (long) or soft labels (float N x K). Adam."""
    import torch
    import torch.nn.functional as F

    g = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    soft = y.dtype.is_floating_point
    n = len(x)
    steps = epochs * ((n + batch_size - 1) // batch_size)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=max(steps, 1), pct_start=0.2)
    for epoch in range(epochs):
        model.train()
        perm = torch.randperm(n, generator=g)
        total = 0.0
        for i in range(0, n, batch_size):
            idx = perm[i:i + batch_size]
            xb, yb = x[idx], y[idx]
            if augment:
                xb = _shift(xb, g)
            logits = model(xb)
            loss = soft_cross_entropy(logits, yb) if soft else F.cross_entropy(logits, yb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            total += float(loss.detach()) * len(idx)
        if log is not None:
            log(epoch=epoch, loss=total / n)
    model.eval()
    return model


def _shift(x, g, max_shift: int = 2):
    import torch

    dx, dy = (int(v) for v in torch.randint(-max_shift, max_shift + 1, (2,), generator=g))
    return torch.roll(x, shifts=(dy, dx), dims=(2, 3))


def predict_probs(model, x, batch_size: int = 1024):
    import torch

    model.eval()
    with torch.no_grad():
        return torch.cat([model(x[i:i + batch_size]).softmax(dim=1) for i in range(0, len(x), batch_size)])


def accuracy(model, x, y) -> float:
    return float((predict_probs(model, x).argmax(dim=1) == y).float().mean())


def save_model(model, path: str | Path) -> Path:
    """Save the whole module (architecture + weights) with ``torch.save``, atomically."""
    import os

    import torch

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    torch.save(model, tmp)
    os.replace(tmp, path)
    return path


def read_model_meta(meta_file: str | Path) -> dict:
    """``model.json`` of a saved classifier: ``input_shape`` [C, H, W] (a tuple here) and, when present,
    ``num_classes``; one-line errors naming the file and field."""
    from modelworks.jsonl import read_json, shown

    meta = read_json(meta_file, "model metadata file")
    if not isinstance(meta, dict):
        raise UserError(f"{meta_file}: expected a JSON object, got {type(meta).__name__}")
    shape = meta.get("input_shape")
    if not (isinstance(shape, list) and len(shape) == 3
            and all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in shape)):
        raise UserError(f"{meta_file}: field 'input_shape' must be a list [C, H, W] of positive integers, "
                        f"got {shown(shape)}")
    n = meta.get("num_classes")
    if "num_classes" in meta and not (isinstance(n, int) and not isinstance(n, bool) and n >= 2):
        raise UserError(f"{meta_file}: field 'num_classes' must be an integer >= 2, got {shown(n)}")
    return {**meta, "input_shape": tuple(shape)}


def load_model(path: str | Path):
    """Load a module saved by :func:`save_model` (or any ``torch.save``-d ``nn.Module``, a TorchScript
    file, or a folder holding ``model.pt``). Only load files you trust: this unpickles Python objects."""
    p = file_or_folder(path, "model.pt", "model file")
    try:
        obj = torch.load(p, map_location="cpu", weights_only=False)
    except Exception:  # noqa: BLE001 - maybe TorchScript
        try:
            obj = torch.jit.load(str(p), map_location="cpu")
        except Exception as exc:  # noqa: BLE001
            raise UserError(f"{p}: not a torch model file ({type(exc).__name__})") from None
    if not isinstance(obj, torch.nn.Module):
        raise UserError(f"{p}: holds a {type(obj).__name__}, not a torch nn.Module (save the whole model)")
    obj.eval()
    return obj
