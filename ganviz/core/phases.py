"""The phases of one iteration of Algorithm 1 in words: what "Step D", "Step G" and slow motion
say they did, with the objective each phase ascends or descends (THEORY.md §2)."""

from __future__ import annotations

from ganviz.core import losses

V_TEXT = "V(G,D) = E[log D(x)] + E[log(1 − D(G(z)))]"
D_OBJECTIVE = {
    "vanilla": f"ascend {V_TEXT}",
    "lsgan": "descend E[(D(x) − 1)²] + E[(D(G(z)) + 1)²] (LSGAN)",
    "hinge": "ascend E[min(0, D(x) − 1)] + E[min(0, −1 − D(G(z)))] (hinge)",
    "critic": "ascend E[f(x)] − E[f(G(z))] (the critic's W1 estimate)",
}
G_OBJECTIVE = {
    "minimax": "descend E[log(1 − D(G(z)))] (minimax)",
    "nonsaturating": "descend −E[log D(G(z))] (non-saturating)",
    "lsgan": "descend E[(D(G(z)) − 1)²] (LSGAN)",
    "wgan": "descend −E[f(G(z))] (WGAN)",
    "wgan-gp": "descend −E[f(G(z))] (WGAN-GP)",
    "hinge": "descend −E[D(G(z))] (hinge)",
}


def d_phase(i: int, k: int, loss: str) -> str:
    """'D update i of k: ascend V(G,D) = …' (G fixed)."""
    return f"D update {i} of {k}: {D_OBJECTIVE.get(losses.family(loss), 'ascend D’s objective')}"


def g_phase(d_done: int, k: int, loss: str) -> str:
    """'G update: descend …' (D fixed); says when the iteration had other than k D updates."""
    text = f"G update: {G_OBJECTIVE.get(loss, 'descend G’s loss')}"
    if d_done != k:
        text += f" — this iteration had {d_done} of k = {k} D updates"
    return text


def frozen_phase() -> str:
    return "G is frozen: no G update (unfreeze G to complete the iteration)"
