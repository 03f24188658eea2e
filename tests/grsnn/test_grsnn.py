"""Unit tests of GRSNN's mathematics and data (sheet, Tests): K1 rule closure and splits, the delay autograd vs
finite differences, t = 0 behaviour, hard reset, decoding, nodelay invariance, ranking with ties, op and parameter
counters, 3-hop reach at init."""
from collections import deque

import numpy as np
import pytest
import torch

from tasks.grsnn import kg, ops
from tasks.grsnn.delay import DelayPlan, delayed_messages, kappa, kappa_prime, psp_trace_step
from tasks.grsnn.model import Graph, build, lif_step, n_params, params_closed_form
from tasks.grsnn.params import TrainParams
from tasks.grsnn.ranking import load_data, ranks, summary
from tasks.grsnn.train import adversarial_bce, model_config


@pytest.fixture(scope="module")
def k1():
    g = kg.generate(np.random.default_rng(0), 8)
    return g, kg.split(g.derived, np.random.default_rng(1))


def reference_closure(g) -> set:
    """Matrix form of the Horn rules, independent of kg.closure."""
    n = g.n
    P, S = np.zeros((n, n), int), np.zeros((n, n), int)
    for h, r, t in g.base:
        (P if r in (kg.F, kg.M) else S)[h, t] = 1
    male = g.male
    sib = ((P.T @ P) > 0).astype(int)
    np.fill_diagonal(sib, 0)
    pib = (((sib + S @ sib) @ P) > 0)
    rel = {"grandfather_of": male[:, None] & ((P @ P) > 0), "grandmother_of": ~male[:, None] & ((P @ P) > 0),
           "son_of": male[:, None] & (P.T > 0), "daughter_of": ~male[:, None] & (P.T > 0),
           "brother_of": male[:, None] & (sib > 0), "sister_of": ~male[:, None] & (sib > 0),
           "uncle_of": male[:, None] & pib, "aunt_of": ~male[:, None] & pib,
           "nephew_of": male[:, None] & pib.T, "niece_of": ~male[:, None] & pib.T,
           "cousin_of": (P.T @ sib @ P) > 0, "father_in_law_of": male[:, None] & ((P @ S) > 0)}
    return {(h, kg.DERIVED.index(r), t) for r, m in rel.items() for h, t in zip(*np.nonzero(m))}


def test_k1_closure_and_graph(k1):
    g, sp = k1
    assert 120 <= g.n <= 250
    assert set(map(tuple, g.derived.tolist())) == reference_closure(g)
    assert set(g.base[:, 1].tolist()) == set(range(kg.NB))                  # only base relations in the graph
    e = kg.edges(g.base)
    assert len(e) == 2 * len(g.base) and set(e[:, 1].tolist()) == set(range(2 * kg.NB))
    # every person carries a gendered relation (the K1 ceiling fix)
    assert set(g.base[:, 0].tolist()) == set(range(g.n))
    assert kg.ceiling(g.n, e, kg.queries(sp["test"]), kg.queries(g.derived), typed=True)["mrr"] == 1.0
    blind = kg.ceiling(g.n, e, kg.queries(sp["test"]), kg.queries(g.derived), typed=False)["mrr"]
    assert blind < 0.95                                                        # gender invisible without types


def test_splits_disjoint_and_queried_edge_absent(k1):
    g, sp = k1
    sets = {s: set(map(tuple, v.tolist())) for s, v in sp.items()}
    assert not (sets["train"] & sets["valid"]) and not (sets["train"] & sets["test"]) and not (sets["valid"] & sets["test"])
    assert set().union(*sets.values()) == set(map(tuple, g.derived.tolist()))
    assert abs(len(sets["train"]) / len(g.derived) - 0.7) < 0.01
    graph_pairs = {(s, d) for s, _, d in kg.edges(g.base).tolist()}
    # a derived fact is never a typed graph edge: the relation ids are disjoint (queries 0..23 over derived types,
    # edges 0..7 over base types); as entity pairs, grandparent/cousin/uncle facts are not even adjacent
    for h, r, t in g.derived.tolist():
        if kg.DERIVED[r] in ("grandfather_of", "grandmother_of", "cousin_of", "uncle_of", "aunt_of", "brother_of"):
            assert (h, t) not in graph_pairs and (t, h) not in graph_pairs


def test_rule_body_metadata_is_sufficient(k1):
    """Each derived fact is reachable from its head using only the query's rule-body relations (<= 4 hops)."""
    g, _ = k1
    e = kg.edges(g.base)
    for h, q, t in kg.queries(g.derived).tolist():
        body = kg.query_body(q)
        adj = {}
        for s, r, d in e.tolist():
            if r in body:
                adj.setdefault(s, []).append(d)
        seen, frontier = {h: 0}, deque([h])
        while frontier:
            x = frontier.popleft()
            for y in adj.get(x, []):
                if y not in seen and seen[x] < 4:
                    seen[y] = seen[x] + 1
                    frontier.append(y)
        assert t in seen, (h, kg.QUERY_RELS[q], t)
    assert kg.query_body(kg.DERIVED.index("son_of")) == {kg.Fi, kg.Mi}
    assert kg.query_body(kg.ND + kg.DERIVED.index("son_of")) == {kg.F, kg.M}


def _toy_graph():
    return Graph(np.array([[0, 0, 1], [1, 1, 2], [0, 1, 2]]), 3)             # 3 nodes, 2 relation types


def test_delay_gradient_matches_finite_differences():
    torch.manual_seed(0)
    g, B, D, T, beta, tau = _toy_graph(), 2, 3, 7, 4, 4.0
    S = [(torch.rand(B, 3, D) < 0.5).double() for _ in range(T)]
    filt, traces = (torch.zeros(B, 3, D, dtype=torch.double),) * 2, torch.zeros(beta + T, B, 3, D, dtype=torch.double)
    for t in range(T):
        traces[beta + t], filt = psp_trace_step(S[t], filt, tau)
    dint = torch.randint(0, beta + 1, (B, 2, D)).double()
    dint[0, 0, 0] = beta                                                      # reaches before t = 0 at t < 5: masked
    w = torch.randn(B, 3, D, dtype=torch.double)

    def smooth(d):                                                            # PSP-filtered delayed train at t - 1
        out = torch.zeros(B, 3, D, dtype=torch.double)
        tt = torch.arange(T, dtype=torch.double)
        for (s, r, v) in zip(g.src.tolist(), g.rel.tolist(), g.dst.tolist()):
            lag = (T - 1) - d[:, r, :, None] - tt                           # (B, D, T')
            sp = torch.stack([S[i][:, s] for i in range(T)], -1)             # (B, D, T')
            out[:, v] += (sp * kappa(lag, tau)).sum(-1)
        return (w * out).sum()

    d = dint.clone().requires_grad_(True)
    spikes = [x.clone().requires_grad_(True) for x in S]
    plan = DelayPlan(d, g, beta)
    plan.pad = plan.pad.double()
    m = delayed_messages(d, plan, spikes, traces)
    (w * m).sum().backward()
    eps = 1e-6
    fd = torch.zeros_like(dint)
    for idx in np.ndindex(*dint.shape):
        dm = dint.clone()
        dm[idx] -= eps                                                        # left difference: the trace uses kappa'(0+)
        fd[idx] = (smooth(dint) - smooth(dm)) / eps
    assert torch.allclose(d.grad, fd, atol=1e-4), (d.grad - fd).abs().max()
    # forward: the message is the spike from t - 1 - d; the spike gradient scatters back to that index
    ref = torch.zeros(B, 3, D, dtype=torch.double)
    for (s, r, v) in zip(g.src.tolist(), g.rel.tolist(), g.dst.tolist()):
        j = dint[:, r].long()
        idx = T - 1 - j
        vals = torch.stack(S)[idx.clamp(min=0), torch.arange(B)[:, None], s, torch.arange(D)[None]]
        ref[:, v] += torch.where(idx >= 0, vals, torch.zeros_like(vals))
    assert torch.equal(m.detach(), ref)
    assert spikes[T - 1 - int(dint[1, 1, 2])].grad[1, 1, 2] == w[1, 2, 2] and spikes[0].grad.abs().sum() >= 0


def test_masked_delays_have_zero_gradient():
    g, B, D, beta = _toy_graph(), 1, 2, 4
    S = [torch.ones(B, 3, D, dtype=torch.double, requires_grad=True) for _ in range(2)]     # step t = 2
    traces = torch.zeros(beta + 2, B, 3, D, dtype=torch.double)
    filt = (torch.zeros(B, 3, D, dtype=torch.double),) * 2
    for t in range(2):
        traces[beta + t], filt = psp_trace_step(S[t].detach(), filt, 4.0)
    d = torch.full((B, 2, D), 3.0, dtype=torch.double, requires_grad=True)  # 2 - 1 - 3 < 0 everywhere
    plan = DelayPlan(d, g, beta)
    plan.pad = plan.pad.double()
    m = delayed_messages(d, plan, S, traces)
    m.sum().backward()
    assert m.abs().sum() == 0 and d.grad.abs().sum() == 0 and all(s.grad.abs().sum() == 0 for s in S)


def test_kappa_derivative():
    t = torch.linspace(0.1, 12, 50, dtype=torch.double)
    num = (kappa(t + 1e-6, 4.0) - kappa(t - 1e-6, 4.0)) / 2e-6
    assert torch.allclose(num, kappa_prime(t, 4.0), atol=1e-6)
    assert kappa(torch.tensor(4.0), 4.0) == pytest.approx(1.0)


def _cfg(arm, **kw):
    return {**model_config(TrainParams(**kw), arm)}


def test_t0_only_source_spikes_and_decoding(k1):
    g, _ = k1
    G = Graph(kg.edges(g.base), g.n)
    torch.manual_seed(0)
    for arm in ("grsnn", "nodelay", "weights"):
        m = build(_cfg(arm))
        heads = torch.tensor([0, 5, 17])
        _, rec = m(G, heads, torch.tensor([0, 3, 14]), record=True)
        s0 = rec["spikes"][0]                                                 # (B, V, D)
        others = s0.clone()
        others[torch.arange(3), heads] = 0
        assert others.sum() == 0 and s0[torch.arange(3), heads].sum() > 0
    gamma, T = 0.95, 10
    w = torch.tensor([gamma ** t for t in range(T)])
    assert torch.isclose((w / w.sum()).sum(), torch.tensor(1.0))


def test_hard_reset():
    I, u = torch.zeros(1, 1, 2), torch.zeros(1, 1, 2)
    b = torch.tensor([[[5.0, 0.5]]])
    I, u, s = lif_step(I, u, torch.zeros(1, 1, 2), torch.eye(2), b, 0.8, 0.7, 2.0, 4.0)
    assert s.tolist() == [[[1.0, 0.0]]] and u[0, 0, 0] == 0 and u[0, 0, 1] == pytest.approx(0.5)


def test_nodelay_invariant_to_relation_permutation(k1):
    g, _ = k1
    e = kg.edges(g.base)
    perm = np.random.default_rng(0).permutation(2 * kg.NB)
    e2 = e.copy()
    e2[:, 1] = perm[e[:, 1]]
    torch.manual_seed(0)
    m = build(_cfg("nodelay"))
    h, q = torch.tensor([0, 3]), torch.tensor([1, 20])
    with torch.no_grad():
        assert torch.equal(m(Graph(e, g.n), h, q), m(Graph(e2, g.n), h, q))
        torch.manual_seed(0)
        md = build(_cfg("grsnn"))
        assert not torch.equal(md(Graph(e, g.n), h, q), md(Graph(e2, g.n), h, q))


def test_filtered_pessimistic_ranking_with_ties():
    scores = torch.tensor([[0.9, 0.5, 0.5, 0.5, 0.1, 0.7]])
    ans = torch.tensor([[False, True, False, False, False, True]])            # true answers: 1 (target) and 5
    pess, opt = ranks(scores, torch.tensor([1]), ans)
    # non-answers scoring >= 0.5: node 0 (0.9), nodes 2, 3 (ties); node 5 is filtered out (another answer)
    assert pess.item() == 4 and opt.item() == 2
    s = summary(np.array([4, 1, 12]), np.array([2, 1, 12]))
    assert s["mrr"] == pytest.approx((0.25 + 1 + 1 / 12) / 3) and s["hits1"] == pytest.approx(1 / 3)
    assert s["hits3"] == pytest.approx(1 / 3) and s["hits10"] == pytest.approx(2 / 3)
    assert s["mrr_realistic"] == pytest.approx((1 / 3 + 1 + 1 / 12) / 3)
    # the filter removes other true answers only: without it the target loses a place to node 5
    pess2, _ = ranks(scores, torch.tensor([1]), torch.tensor([[False, True, False, False, False, False]]))
    assert pess2.item() == 5


def test_adversarial_loss_uses_strict_negatives_only():
    sc = torch.tensor([[2.0, 0.0, 1.0]], requires_grad=True)
    neg = torch.tensor([[False, True, False]])
    loss = adversarial_bce(sc, torch.tensor([0]), neg, 0.5)
    ref = -torch.nn.functional.logsigmoid(torch.tensor(2.0)) - torch.nn.functional.logsigmoid(torch.tensor(0.0))
    assert torch.isclose(loss, ref)
    loss.backward()
    assert sc.grad[0, 2] == 0


def test_op_counters_on_a_hand_graph():
    # chain 0 -> 1 -> 2, D = 4: the source fires every channel at t = 0; nodelay delivers them to node 1 at t = 1
    G = Graph(np.array([[0, 0, 1], [1, 0, 2]]), 3)
    cfg = _cfg("nodelay", dim=4, T=3, w_gain=1.0)
    torch.manual_seed(0)
    m = build(cfg)
    with torch.no_grad():
        m.query.weight.fill_(10.0)                                          # source current >> V_th
        _, rec = m(G, torch.tensor([0]), torch.tensor([0]), record=True)
    s, dl = rec["spikes"], rec["delivered"]
    assert dl[0].sum() == 0 and torch.equal(dl[1, 0, 1], s[0, 0, 0]) and dl[1, 0, 1].sum() == 4
    expect = sum(float(s[t - 1, 0, 0].sum() + s[t - 1, 0, 1].sum()) for t in range(1, 3))
    assert float(dl.sum()) == expect
    assert ops.grsnn_acs(float(dl.sum()), 4) == 4 * expect
    assert ops.nbfnet_macs(3, 2, 4, 6) == 6 * (2 * 4 + 3 * 16 + 4 * 3 * 4)
    r = ops.energy_ratios(100.0, 3, 2, 4, 3, 8, 6, 0.9, 4.6)
    assert r["core"] == pytest.approx(4.6 * ops.nbfnet_macs(3, 2, 4, 6) / (0.9 * (100 + 3 * 4 * 3)))


def test_parameter_counter_matches_closed_form():
    for arm in ("grsnn", "nodelay", "weights", "nbfnet"):
        for D in (8, 32):
            m = build(_cfg(arm, dim=D))
            form = params_closed_form("grsnn" if arm == "weights" else arm, D, 8, 24, 6)
            assert n_params(m) == form, arm
    assert params_closed_form("nbfnet", 32, 8, 24) / params_closed_form("grsnn", 32, 8, 24) > 4


def test_spikes_reach_three_hops_at_init(k1):
    """From a founder, a grandchild's spouse is 3 hops away: at init some of them spike within T = 10."""
    g, _ = k1
    data = load_data({"male": g.male, "edge": kg.edges(g.base), "facts_train": g.derived[:1],
                      "facts_valid": g.derived[:1], "facts_test": g.derived[:1]})
    founders = torch.tensor(np.flatnonzero((g.generation == 0) & g.male)[:8])
    far = torch.tensor((g.generation == 2) & ~np.isin(np.arange(g.n), g.base[np.isin(g.base[:, 1], [kg.F, kg.M]), 2]))
    for arm in ("grsnn", "nodelay"):
        torch.manual_seed(0)
        m = build(_cfg(arm))
        with torch.no_grad():
            _, rec = m(data.graph, founders, torch.zeros(len(founders), dtype=torch.long), record=True)
        fam = torch.tensor(g.family)[None, :] == torch.tensor(g.family)[founders][:, None]
        reached = rec["spikes"].amax((0, 3)) > 0                                # (B, V)
        assert (reached & far[None] & fam).any(1).float().mean() >= 0.5, arm
