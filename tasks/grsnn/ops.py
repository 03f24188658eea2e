"""Exact per-query operation counts and the energy convention (sheet, Measurements: Energy).

GRSNN: every delayed spike delivered to node v on presynaptic channel k at step t adds one column of W to v's
current: D accumulates (ACs); edge aggregation is spike counting, folded in. Neuron-state updates add |V| D T ACs
(reported with and without). NBFNet-lite per layer: |E| D multiplies for the DistMult messages, |V| D^2 for the
per-node Linear and 4 |V| D for LayerNorm (mean, variance, normalise, affine; our convention), all MACs. Shared
per-query costs, as MACs for both: the relation projections (GRSNN: one D -> R D; NBFNet-lite: one per layer) and
the scorer over |V| nodes. E = e_AC * ACs + e_MAC * MACs.
"""
from __future__ import annotations


def grsnn_acs(delivered_per_query: float, D: int) -> float:
    """ACs of one query's message passing: D per delivered spike."""
    return float(delivered_per_query) * D


def grsnn_state_acs(V: int, D: int, T: int) -> float:
    return float(V * D * T)


def nbfnet_macs(V: int, E: int, D: int, L: int) -> float:
    return float(L * (E * D + V * D * D + 4 * V * D))


def scorer_macs(V: int, D: int) -> float:
    return float(V * (2 * D * 2 * D + 2 * D))


def shared_macs(arm: str, V: int, D: int, R: int, L: int) -> float:
    proj = D * R * D * (L if arm == "nbfnet" else 1)
    return float(proj + scorer_macs(V, D))


def energy_ratios(acs: float, V: int, E: int, D: int, T: int, R: int, L: int, e_ac: float, e_mac: float) -> dict:
    """E_NBFNet-lite / E_GRSNN in four variants (core / with shared costs) x (with / without state updates)."""
    nbf_core = e_mac * nbfnet_macs(V, E, D, L)
    nbf_all = nbf_core + e_mac * shared_macs("nbfnet", V, D, R, L)
    g_state = e_ac * grsnn_state_acs(V, D, T)
    g_core = e_ac * acs
    g_shared = e_mac * shared_macs("grsnn", V, D, R, L)
    return {"core": nbf_core / (g_core + g_state), "core_no_state": nbf_core / max(g_core, 1e-12),
            "all": nbf_all / (g_core + g_state + g_shared), "all_no_state": nbf_all / (g_core + g_shared),
            "E_nbfnet_core_pj": nbf_core, "E_nbfnet_all_pj": nbf_all, "E_grsnn_core_pj": g_core + g_state,
            "E_grsnn_all_pj": g_core + g_state + g_shared}
