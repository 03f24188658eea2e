"""Unit tests of the BUSGen reproduction against independent references (sheet, Tests): the simulator, the DDPM
forward marginals vs the closed form, CFG and the sampler, LoRA zero-init and frozen base weights, AUC vs
sklearn.metrics.roc_auc_score, the bootstrap, Youden, DCR / membership inference on constructed sets."""
import numpy as np
import pytest
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

from tasks.busgen import metrics as M
from tasks.busgen import sim
from tasks.busgen.diffusion import Schedule, cfg_eps, ddim_sample, ddpm_loss, drop_conditions
from tasks.busgen.model import CNN, LoRAConv2d, LoRAUNet, UNet, base_state
from tasks.busgen.train import hflip


@pytest.fixture(scope="module")
def small_set():
    rng = np.random.default_rng(0)
    st = np.repeat([sim.BENIGN, sim.DCIS], 200)
    return sim.render(rng, st, np.zeros(400, int)), (st > 0).astype(int)


# --- simulator -------------------------------------------------------------------------------------------------
def test_simulator_seeded_and_in_range():
    st, dev = np.array([0, 1, 2, 0]), np.array([0, 1, 2, 3])
    a = sim.render(np.random.default_rng(5), st, dev)
    b = sim.render(np.random.default_rng(5), st, dev)
    c = sim.render(np.random.default_rng(6), st, dev)
    assert a.dtype == np.uint8 and a.shape == (4, 16, 16)
    assert np.array_equal(a, b) and not np.array_equal(a, c)


def test_class_features_overlap(small_set):
    """Hand features (lesion darkness, bright pixels, centre/posterior contrast) separate the classes, but not
    perfectly: Bayes AUC < 1."""
    x, y = small_set
    f = x.astype(float)
    feats = np.stack([f[:, 5:11, 5:11].mean((1, 2)), (f[:, 4:12, 4:12] > 230).sum((1, 2)),
                      f[:, 11:, 5:11].mean((1, 2)) - f[:, 11:, :3].mean((1, 2)), f.std((1, 2))], 1)
    lr = LogisticRegression(max_iter=2000).fit(feats[::2], y[::2])
    a = roc_auc_score(y[1::2], lr.decision_function(feats[1::2]))
    assert 0.55 < a < 0.99


def test_devices_change_image_statistics():
    rng = np.random.default_rng(1)
    st = np.zeros(800, int)
    x = sim.render(rng, st, np.repeat(np.arange(4), 200)).astype(float)
    means = [x[k * 200:(k + 1) * 200].mean() for k in range(4)]
    assert min(abs(means[i] - means[j]) for i in range(4) for j in range(i + 1, 4)) > 5


def test_respeckled_copies_keep_anatomy():
    rng = np.random.default_rng(2)
    lat = sim.latents(rng, np.array([0, 2, 2]), 0.3)
    lat["fields"] = sim.anatomy_fields(rng, 3, 16)
    a = sim.draw(np.random.default_rng(3), lat, np.zeros(3, int)).astype(float)
    b = sim.draw(np.random.default_rng(4), lat, np.zeros(3, int)).astype(float)
    other = sim.draw(np.random.default_rng(3), sim.latents(rng, np.array([0, 2, 2]), 0.3), np.zeros(3, int))
    d_copy = M.nearest(M.smooth(a, 1.0), M.smooth(b, 1.0)).mean()
    d_other = M.nearest(M.smooth(a, 1.0), M.smooth(other, 1.0)).mean()
    assert not np.array_equal(a, b) and d_copy < d_other


# --- DDPM -------------------------------------------------------------------------------------------------------
def test_forward_marginals_match_closed_form():
    sch = Schedule(500, 1e-4, 0.028)
    betas = np.linspace(1e-4, 0.028, 500)
    abar = np.cumprod(1 - betas)                                  # independent closed form
    assert np.allclose(sch.abar.numpy(), abar)
    x0 = torch.full((20000, 1, 1, 1), 0.7)
    for t in (0, 100, 499):
        xt = sch.q_sample(x0, torch.full((20000,), t), torch.randn(20000, 1, 1, 1, generator=torch.Generator().manual_seed(t)))
        assert abs(xt.mean().item() - np.sqrt(abar[t]) * 0.7) < 0.02
        assert abs(xt.var().item() - (1 - abar[t])) < 0.03 * max(1 - abar[t], 0.02) + 2e-4


def test_perfect_eps_predictor_has_zero_loss():
    sch = Schedule(50)
    gen = torch.Generator().manual_seed(0)
    x0 = torch.randn(8, 1, 16, 16)

    class Oracle(torch.nn.Module):        # knows x0: eps = (x_t - sqrt(abar) x0) / sqrt(1 - abar)
        def forward(self, xt, t, path, dev):
            a = sch.abar[t].float()[:, None, None, None]
            return (xt - a.sqrt() * x0) / (1 - a).sqrt()

    assert ddpm_loss(Oracle(), sch, x0, torch.ones(8, dtype=torch.long), torch.ones(8, dtype=torch.long), 0.1,
                     gen).item() < 1e-8


def test_condition_drop_rate_and_joint_drop():
    gen = torch.Generator().manual_seed(0)
    path, dev = torch.full((20000,), 2), torch.full((20000,), 3)
    p, d = drop_conditions(path, dev, 0.1, gen)
    assert abs((p == 0).float().mean().item() - 0.1) < 0.01
    assert torch.equal(p == 0, d == 0)                            # all conditions dropped together


def test_cfg_formula():
    ec, eu = torch.tensor([1.0, 2.0]), torch.tensor([0.5, 3.0])
    assert torch.allclose(cfg_eps(ec, eu, 1.8), 2.8 * ec - 1.8 * eu)
    assert torch.equal(cfg_eps(ec, eu, 0.0), ec)


def test_sampler_seeded_shape_range():
    torch.manual_seed(0)
    net = UNet((8, 16, 16), 16).eval()
    sch = Schedule(50)
    y, d = torch.tensor([1, 2, 1]), torch.tensor([1, 2, 3])
    a = ddim_sample(net, sch, y, d, 4, 1.8, torch.Generator().manual_seed(1))
    b = ddim_sample(net, sch, y, d, 4, 1.8, torch.Generator().manual_seed(1))
    assert a.shape == (3, 1, 16, 16) and torch.equal(a, b) and a.abs().max() <= 1


# --- LoRA -------------------------------------------------------------------------------------------------------
def test_lora_zero_init_unchanged_and_base_bit_identical():
    torch.manual_seed(0)
    base = UNet((8, 16, 16), 16).eval()
    x, t = torch.randn(4, 1, 16, 16), torch.tensor([0, 10, 100, 400])
    y, d = torch.tensor([1, 2, 1, 2]), torch.ones(4, dtype=torch.long)
    with torch.no_grad():
        ref = base(x, t, y, d).clone()
    before = {k: v.clone() for k, v in base.state_dict().items()}
    lora = LoRAUNet(base, 4)
    wrapped = [m for m in lora.modules() if isinstance(m, LoRAConv2d)]
    n3 = sum(isinstance(m, torch.nn.Conv2d) and m.kernel_size == (3, 3) for m in base.modules()) - len(wrapped)
    assert len(wrapped) == n3 > 0                                  # every 3x3 conv of the base carries LoRA
    # new tokens start as copies of benign / malignant, so task labels 1, 2 reproduce the base output exactly
    assert torch.equal(lora.task_tokens, base.path_emb.weight[1:3])
    with torch.no_grad():
        assert torch.equal(lora(x, t, y, d), ref)
    frozen = base_state(lora)
    opt = torch.optim.AdamW([p for p in lora.parameters() if p.requires_grad], 1e-2, weight_decay=0.1)
    gen = torch.Generator().manual_seed(0)
    for _ in range(3):
        loss = ddpm_loss(lora.train(), Schedule(500), x, y, d, 0.1, gen)
        opt.zero_grad()
        loss.backward()
        opt.step()
    after = base_state(lora)
    assert frozen.keys() and all(torch.equal(frozen[k], after[k]) for k in frozen)
    sd = lora.unet.state_dict()
    for k, v in before.items():                 # the base UNet's tensors, by their wrapped names
        k2 = k if k in sd else k.replace(".weight", ".base.weight").replace(".bias", ".base.bias")
        assert torch.equal(sd[k2], v), k
    with torch.no_grad():
        assert not torch.equal(lora.eval()(x, t, y, d), ref)     # the adapters did learn something


def test_hflip_only_horizontal():
    x = torch.arange(16.0).reshape(1, 1, 4, 4).repeat(64, 1, 1, 1)
    f = hflip(x, torch.Generator().manual_seed(0))
    flipped = (f != x).flatten(1).any(1)
    assert 0 < flipped.sum() < 64 and torch.equal(f[flipped], x[flipped].flip(-1))


def test_cnn_standardisation_removes_gain():
    torch.manual_seed(0)
    m = CNN(8).eval()
    x = torch.rand(5, 1, 16, 16)
    with torch.no_grad():
        assert torch.allclose(m(x), m(2.0 * x + 0.3), atol=1e-4)


# --- metrics ----------------------------------------------------------------------------------------------------
def test_auc_matches_sklearn_with_ties():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 300)
    s = np.round(rng.normal(size=(300, 3)) + y[:, None], 1)        # ties on purpose
    ours = M.auc(y, s)
    for j in range(3):
        assert abs(ours[j] - roc_auc_score(y, s[:, j])) < 1e-12


def test_bootstrap_reproducible_and_paired():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 200)
    s = np.stack([rng.normal(size=200) + y, rng.normal(size=200) + y], 1)
    a, b = M.bootstrap_aucs(y, s, 200, 7), M.bootstrap_aucs(y, s, 200, 7)
    assert np.array_equal(a, b) and a.shape == (200, 2)
    same = M.bootstrap_aucs(y, np.stack([s[:, 0], s[:, 0]], 1), 100, 3)
    assert np.array_equal(same[:, 0], same[:, 1])                  # same rows for every column
    lo, hi = M.ci95(a[:, 0])
    assert lo < M.auc(y, s[:, 0]) < hi


def test_youden_and_operating_points_by_hand():
    y = np.array([0, 0, 0, 1, 1, 1])
    s = np.array([0.1, 0.2, 0.6, 0.4, 0.7, 0.9])
    # t = 0.4: sens 1, spec 2/3 -> J = 0.667; t = 0.7: sens 2/3, spec 1 -> 0.667 (first maximiser: 0.4)
    assert M.youden_threshold(y, s) == 0.4
    assert M.sens_spec(y, s, 0.4) == (1.0, 2 / 3)
    assert M.sens_at_spec(y, s, 0.9) == 2 / 3
    assert abs(M.cross_entropy(np.array([1, 0]), np.array([0.0, 0.0])) - np.log(2)) < 1e-12


def test_dcr_and_mia_on_constructed_sets():
    rng = np.random.default_rng(0)
    members, nonmembers = rng.normal(size=(64, 50)), rng.normal(size=(64, 50))
    fresh = rng.normal(size=(512, 50))                              # same distribution, no copies
    assert abs(M.mia_auc(members, nonmembers, fresh) - 0.5) < 0.12
    assert M.dcr_ratio(fresh, members, nonmembers)["dcr_ratio"] > 0.9
    copies = np.repeat(members, 4, 0) + 0.01 * rng.normal(size=(256, 50))
    assert M.mia_auc(members, nonmembers, copies) > 0.99
    assert M.dcr_ratio(copies, members, nonmembers)["dcr_ratio"] < 0.1
    brute = np.array([min(np.linalg.norm(a - b) for b in members) for a in fresh[:20]])
    assert np.allclose(M.nearest(fresh[:20], members), brute)


def test_near_copy_control_is_detected_and_fresh_data_is_not():
    from tasks.busgen.privacy import near_copies
    rng = np.random.default_rng(0)
    st = np.repeat([sim.BENIGN, sim.DCIS], 32)
    members = sim.render(rng, st, np.zeros(64, int))
    nonmembers = sim.render(rng, st, np.zeros(64, int))
    fresh = sim.render(rng, np.repeat([sim.BENIGN, sim.DCIS], 128), np.zeros(256, int))
    c = near_copies(members, 4, 8.0, np.random.default_rng(1))
    assert c.shape == (256, 16, 16) and c.dtype == np.uint8
    sm = lambda x: M.smooth(x, 1.0)  # noqa: E731
    assert M.mia_auc(sm(members), sm(nonmembers), sm(c)) > 0.95
    assert abs(M.mia_auc(sm(members), sm(nonmembers), sm(fresh)) - 0.5) < 0.15
