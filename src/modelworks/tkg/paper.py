"""Published numbers to print beside ours (Luo et al. 2024, "Chain of History", Tables 3 and 4).

Hits@1/3/10, both directions averaged. ``raw`` is Table 3, ``time_aware_filtered`` Table 4.
The paper's ICEWS14 is the 7,128-entity xERTE/RE-GCN split (it quotes 6,869 entities from RE-GCN).
"""

from __future__ import annotations

__all__ = ["PAPER_TABLES", "paper_rows"]

_MODELS = ("RE-GCN", "xERTE", "TLogic", "TiRGN", "HGLS", "GenTKG", "Llama-2-7b-ICL", "Llama-2-7b-CoH", "Vicuna-7b-CoH")

# dataset -> setting -> model -> (H@1, H@3, H@10)
PAPER_TABLES: dict[str, dict[str, dict[str, tuple[float, float, float]]]] = {
    "ICEWS14": {
        "raw": {
            "RE-GCN": (.297, .441, .586), "xERTE": (.312, .453, .570), "TLogic": (.322, .470, .603),
            "TiRGN": (.313, .468, .612), "HGLS": (.349, .480, .688), "GenTKG": (.349, .473, .619),
            "Llama-2-7b-ICL": (.275, .391, .453), "Llama-2-7b-CoH": (.338, .462, .587),
            "Vicuna-7b-CoH": (.315, .445, .648),
        },
        "time_aware_filtered": {
            "RE-GCN": (.313, .470, .613), "xERTE": (.327, .457, .573), "TLogic": (.336, .483, .612),
            "TiRGN": (.328, .481, .622), "HGLS": (.368, .490, .691), "GenTKG": (.365, .488, .633),
            "Llama-2-7b-ICL": (.286, .397, .453), "Llama-2-7b-CoH": (.349, .470, .591),
            "Vicuna-7b-CoH": (.328, .457, .656),
        },
    },
    "YAGO": {
        "raw": {
            "RE-GCN": (.499, .663, .779), "xERTE": (.506, .719, .828), "TLogic": (.454, .703, .782),
            "TiRGN": (.509, .710, .864), "HGLS": (.508, .721, .866), "GenTKG": (.520, .731, .870),
            "Llama-2-7b-ICL": (.517, .725, .868), "Llama-2-7b-CoH": (.527, .747, .874),
            "Vicuna-7b-CoH": (.530, .754, .859),
        },
        "time_aware_filtered": {
            "RE-GCN": (.788, .843, .886), "xERTE": (.801, .880, .898), "TLogic": (.740, .789, .791),
            "TiRGN": (.839, .907, .923), "HGLS": (.827, .911, .926), "GenTKG": (.813, .901, .922),
            "Llama-2-7b-ICL": (.767, .852, .868), "Llama-2-7b-CoH": (.880, .929, .931),
            "Vicuna-7b-CoH": (.851, .903, .918),
        },
    },
}


def paper_rows(dataset: str, setting: str) -> list[tuple[str, float, float, float]]:
    """``[(model, H@1, H@3, H@10), ...]`` for a dataset name (case-insensitive); empty when unknown."""
    for name, table in PAPER_TABLES.items():
        if name.lower() == dataset.lower():
            return [(m, *table[setting][m]) for m in _MODELS if m in table[setting]]
    return []
