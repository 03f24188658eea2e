"""LarvSeg's mathematics on toy inputs: generator exactness, the cosine head, the GAP-logit CE, the memory bank,
the CA loss (vectorised vs a per-image reference), dataset-level vs per-image mIoU, propagation and the AUC."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from tasks.larvseg import data as D
from tasks.larvseg import losses as L
from tasks.larvseg import metrics as M
from tasks.larvseg.model import LarvNet, standardise_classes
from tasks.larvseg.params import PrepareParams
from tasks.larvseg.prepare import splits


def _palette_residual(img, pal):
    """Least-squares residual of each pixel (noise 0) against colour = c0 + t (c1 - c0) + b (1, 1, 1)."""
    c0, c1 = D.PALETTES[pal]
    A = np.stack([c1 - c0, np.ones(3)], 1)                                    # (3, 2)
    x = img.transpose(0, 2, 3, 1).reshape(-1, 3) - c0
    coef, *_ = np.linalg.lstsq(A, x.T, rcond=None)
    return np.linalg.norm(A @ coef - x.T, axis=0).reshape(img.shape[0], *img.shape[2:])


def test_masks_are_exact_and_classes_are_factor_combinations():
    rng = np.random.default_rng(0)
    img, lab, reg = D.make_eval(rng, 64, (0.15, 0.4), 0.0, 0.5)
    for pal in (0, 1):
        res = _palette_residual(img, pal)
        mine = D.factors(lab)[2] == pal
        assert res[mine].max() < 1e-4                                           # every pixel drawn by its label's palette
        assert np.median(res[~mine]) > 1e-2
    # a pixel's label is the class of the region id that drew it; objects are novel, stuff is base
    assert set(np.unique(lab[reg >= D.MAX_STUFF])) <= set(D.NOVEL)
    assert set(np.unique(lab[reg < D.MAX_STUFF])) <= set(D.BASE)
    combos = {tuple(int(v) for v in f) for f in zip(*D.factors(np.arange(D.K)))}
    assert len(combos) == D.K
    o, f, p = D.factors(np.asarray(D.BASE))
    assert set(o) == {0, 1, 2, 3} and set(f) == {0, 1} and set(p) == {0, 1}
    assert len(D.BASE) == 10 and len(D.NOVEL) == 6 and set(D.CONTEXT.values()) <= set(D.BASE)


def test_splits_seg_has_no_novel_cls_label_and_context_ratio():
    p = PrepareParams(n_seg=300, n_cls=2000, n_val=16, n_test=16, rho=0.7)
    seeds = {}
    arr = splits(p, lambda name: seeds.setdefault(name, 100 + len(seeds)))
    assert len(set(seeds.values())) == 4                                       # disjoint split streams
    assert not np.isin(arr["seg_y"], D.NOVEL).any()
    c, y = arr["cls_c"], arr["cls_y"]
    assert np.isin(c, D.NOVEL).all()
    assert ((y == c[:, None, None]).sum((1, 2)) > 0).all()                     # its object is in the image
    assert set(np.unique(y[y != c[:, None, None]])) <= set(D.BASE)             # the rest is base background
    assert abs(arr["cls_ctx"].mean() - 0.7) < 0.04
    ctx = np.vectorize(D.CONTEXT.get)(c)
    bg_is_ctx = np.array([np.all(y[i][y[i] != c[i]] == ctx[i]) for i in range(len(c))])
    assert (bg_is_ctx[arr["cls_ctx"]]).all() and not (bg_is_ctx[~arr["cls_ctx"]]).any()
    again = splits(p, lambda name: seeds[name])                                # determinism: same seeds, same data
    assert all(np.array_equal(arr[k], again[k]) for k in arr)


def test_head_cosine_range_and_standardisation():
    torch.manual_seed(0)
    net = LarvNet(8, 8, 16, D.K)
    e, s, logits = net(torch.randn(3, 3, 32, 32))
    assert e.shape == (3, 16, 16, 16) and s.shape == (3, 16, 16, D.K) and logits.shape == (3, D.K, 16, 16)
    assert s.abs().max() <= 1 + 1e-6
    torch.testing.assert_close(e.norm(dim=-1), torch.ones(3, 16, 16))
    z = standardise_classes(s)
    torch.testing.assert_close(z.mean(-1), torch.zeros(3, 16, 16), atol=1e-5, rtol=0)
    torch.testing.assert_close(z.std(-1, unbiased=False), torch.ones(3, 16, 16), atol=1e-3, rtol=0)
    torch.testing.assert_close(logits.permute(0, 2, 3, 1), z)                 # gamma = 1, beta = 0 at init


def test_gap_logit_ce_single_and_multi_label():
    torch.manual_seed(1)
    lg, c = torch.randn(4, 5, 7), torch.tensor([0, 3, 2, 4])
    m = lg.mean(-1)
    ref = torch.stack([-(m[i, c[i]] - torch.logsumexp(m[i], 0)) for i in range(4)]).mean()
    torch.testing.assert_close(L.gap_ce(lg, c), ref)
    present = torch.zeros(4, 5, dtype=torch.bool)
    present[0, [0, 1]] = True
    present[1, 3] = True
    present[2, [1, 2, 4]] = True
    present[3, 4] = True
    terms = []
    for i in range(4):
        for l in present[i].nonzero().flatten().tolist():
            keep = [j for j in range(5) if j == l or not present[i, j]]
            terms.append(-(m[i, l] - torch.logsumexp(m[i, keep], 0)))
    torch.testing.assert_close(L.gap_ce_multi(lg, present), torch.stack(terms).mean())
    single = F.one_hot(c, 5).bool()                                            # one label: same as gap_ce
    torch.testing.assert_close(L.gap_ce_multi(lg, single), L.gap_ce(lg, c))


def test_bank_fifo_capacity_detach_and_warm_up():
    b = L.Bank(3, slots=3, k=2, dim=4)
    assert not b.ready(1).any()
    ent = torch.randn(5, 2, 4, requires_grad=True)
    b.enqueue(torch.tensor([1, 1, 1, 1, 2]), ent)                              # 4 of class 1 into 3 slots
    assert not b.mem.requires_grad
    norm = F.normalize(ent.detach(), dim=-1)
    # FIFO: slot 0 first got entry 0, then entry 3 overwrote it; slots 1, 2 hold entries 1, 2
    torch.testing.assert_close(b.mem[1], norm[[3, 1, 2]])
    torch.testing.assert_close(b.mem[2, 0], norm[4])
    assert b.count.tolist() == [0, 4, 1] and b.ptr.tolist() == [0, 1, 1]
    assert b.ready(1).tolist() == [False, True, False] and not b.ready(2)[1]
    # vectorised enqueue == one-at-a-time enqueue
    seq = L.Bank(3, slots=3, k=2, dim=4)
    for i, c in enumerate([1, 1, 1, 1, 2]):
        seq.enqueue(torch.tensor([c]), ent[i:i + 1])
    torch.testing.assert_close(seq.mem, b.mem)
    assert seq.ptr.tolist() == b.ptr.tolist() and seq.count.tolist() == b.count.tolist()


def _filled_bank(K=4, M=2, k=3, D_=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    b = L.Bank(K, M, k, D_)
    for _ in range(M):
        b.enqueue(torch.arange(K - 1), torch.randn(K - 1, k, D_, generator=g))   # class K-1 never filled
    return b


def test_ca_vectorised_equals_per_image_reference():
    torch.manual_seed(2)
    K, P, Dm = 4, 20, 8
    bank = _filled_bank(K, 2, 3, Dm)
    e = F.normalize(torch.randn(6, P, Dm), dim=-1)
    s = torch.rand(6, P, K) * 1.6 - 0.6                                         # some top-5 means above 0.35
    logits = torch.randn(6, K, P, requires_grad=True)
    cls = torch.tensor([0, 1, 2, 3, 0, 1])                                     # class 3's bank is not ready
    for suppress in (True, False):
        ready = bank.ready(1)
        att, keep = L.ca_attention(e, s, cls, bank.means(), ready, 0.35, 1.0, suppress)
        vec = L.ca_loss(logits, att, cls, ready[cls])
        ref, new = L.ca_loss_reference(logits, e, s, cls, bank, 1, 0.35, 1.0, suppress)
        torch.testing.assert_close(vec, ref)
        ent, _ = L.topk_weak(e, s, cls, bank.k)
        vb = L.Bank.from_state(bank.state())
        vb.enqueue(cls, ent)
        torch.testing.assert_close(vb.mem, new.mem)
        assert vb.count.tolist() == new.count.tolist() and vb.ptr.tolist() == new.ptr.tolist()
        if suppress:
            assert keep.any()                                                  # the hand case exercises suppression


def test_ca_no_gradient_through_attention():
    torch.manual_seed(3)
    bank = _filled_bank()
    e = F.normalize(torch.randn(2, 10, 8), dim=-1).requires_grad_()
    s = (torch.rand(2, 10, 4) * 2 - 1).requires_grad_()
    att, _ = L.ca_attention(e, s, torch.tensor([0, 1]), bank.means(), bank.ready(1))
    assert not att.requires_grad
    logits = torch.randn(2, 4, 10, requires_grad=True)
    L.ca_loss(logits, att, torch.tensor([0, 1]), torch.tensor([True, True])).backward()
    pooled = (att[:, None] * logits.detach()).mean(-1)
    expect = (torch.softmax(pooled, -1) - F.one_hot(torch.tensor([0, 1]), 4))[:, :, None] * att[:, None] / 10 / 2
    torch.testing.assert_close(logits.grad, expect)


def test_background_selection_hand_case():
    """Class 1's bank points along x, class 2's along y; the image's pixels 0-4 are x-like (its label: class 1),
    5-9 y-like. Class 2 has high scores and an anti-correlated map -> kept; class 0 scores low -> not kept."""
    b = L.Bank(3, 1, 1, 2)
    b.enqueue(torch.tensor([0, 1, 2]), torch.tensor([[[-1.0, -1.0]], [[1.0, 0.0]], [[0.0, 1.0]]]))
    e = torch.cat([torch.tensor([[1.0, 0.0]]).repeat(5, 1), torch.tensor([[0.0, 1.0]]).repeat(5, 1)])[None]
    s = torch.zeros(1, 10, 3)
    s[0, :, 1], s[0, 5:, 2], s[0, :, 0] = 0.9, 0.8, 0.1
    att, keep = L.ca_attention(e, s, torch.tensor([1]), b.means(), b.ready(1), 0.35, 2.0)
    assert keep.tolist() == [[False, False, True]]
    assert (att[0, :5] > 0.7).all() and (att[0, 5:] < 0.3).all()
    _, keep0 = L.ca_attention(e, s, torch.tensor([1]), b.means(), b.ready(1), 0.35, 2.0, suppress=False)
    assert not keep0.any()


def test_dataset_level_vs_per_image_miou_hand_example():
    # image 0: class 1 is 1 pixel, predicted wrong; image 1: class 1 is 7 pixels, all right
    gt = np.array([[[0, 0], [0, 1]], [[1, 1], [1, 1]]])
    gt = np.concatenate([gt, np.array([[[1, 1], [1, 0]]])])                   # image 2: 3 of class 1
    pred = np.array([[[0, 0], [0, 0]], [[1, 1], [1, 1]], [[1, 1], [1, 0]]])
    inter, union = M.inter_union(pred, gt, n_cls=2)
    assert inter.tolist() == [[3, 0], [0, 4], [1, 3]] and union.tolist() == [[4, 1], [0, 4], [1, 3]]
    ds, pi = M.dataset_iou(inter, union), M.per_image_iou(inter, union)
    np.testing.assert_allclose(ds, [100 * 4 / 5, 100 * 7 / 8])
    np.testing.assert_allclose(pi, [100 * (0.75 + 1) / 2, 100 * (0 + 1 + 1) / 3])
    assert not np.allclose(ds, pi)


def test_propagation_hand_example():
    # 1 image, 4 pixels, 3 classes present (0, 1, 1, 2); embeddings: pixels 1 and 2 share a direction
    emb = F.normalize(torch.tensor([[[1.0, 0, 0], [0, 1, 0], [0, 1, 0.1], [0, 0, 1]]]), dim=-1)
    gt = np.array([[[0, 1], [1, 2]]])
    pred = M.propagate(emb, gt, np.random.default_rng(0))
    assert pred.tolist() == gt.tolist()
    emb2 = F.normalize(torch.tensor([[[1.0, 0, 0], [1, 0.01, 0], [0, 1, 0], [0, 0, 1]]]), dim=-1)
    pred2 = M.propagate(emb2, gt, np.random.default_rng(0))                    # pixel 1 looks like class 0
    assert pred2[0, 0].tolist() in ([0, 0], [0, 1]) and pred2[0, 1, 1] == 2


def test_roc_auc_rows_matches_sklearn():
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(0)
    score, pos = rng.normal(size=(5, 40)), rng.uniform(size=(5, 40)) < 0.3
    score[pos] += 0.8
    score[0, :10] = 0.5                                                        # ties
    ours = M.roc_auc_rows(score, pos)
    np.testing.assert_allclose(ours, [roc_auc_score(pos[i], score[i]) for i in range(5)])
    assert np.isnan(M.roc_auc_rows(score[:1], np.zeros((1, 40), bool))[0])


def test_topk_masked_only_inside_region():
    e = F.normalize(torch.randn(2, 12, 4), dim=-1)
    s = torch.rand(2, 12, 3)
    lab = torch.tensor([[0] * 6 + [1] * 6, [1] * 2 + [2] * 10])
    cls, ent = L.topk_masked(e, s, lab, torch.tensor([0, 1, 2]), 3)
    assert cls.tolist() == [0, 1, 2]                                           # image 1's class 1 has < 3 pixels
    best = s[0, :6, 0].topk(3).indices
    torch.testing.assert_close(ent[0], e[0, best])
