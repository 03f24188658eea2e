"""RTO: "DPO Meets PPO: Reinforced Token Optimization for RLHF" (Zhong et al., arXiv 2404.18922).

A toy RLHF world with a hidden token-additive true reward: a tiny GPT is trained by SFT (pi_ref), a Bradley-Terry
RM and DPO are trained on preference pairs sampled from pi_ref, and PPO is run with identical settings and paired
seeds for the sentence-level RM reward (PPO-sparse), RTO (plus the clipped DPO token reward) and two ablations.
True reward and KL(pi || pi_ref) are exact. Card: tasks/rto/README.md; sheet: shared/papers/rto.md.
"""
from tasks.common.registry import Claim, Paper, Stage, grid

from . import params as P

SEEDS = (0, 1, 2)
PPO_ITEMS = (
    grid(arm=("sentence", "rto"), seed=SEEDS)                                  # A, B: C1-C3
    + grid(arm=("dpo_token", "dpo_end"), seed=(0, 1))                          # C, D: C4 (C - D density contrast)
    + grid(arm=("true_dense", "true_sparse"), seed=(0, 1))                     # F: validity (can the toy show density?)
    + grid(arm=("rto_quarter", "sentence_quarter"), seed=(0,))                 # 1/4 pairs: C3 (optional), C5
)
DATA_ITEMS = grid(data=("full", "quarter"))

PAPER = Paper(
    slug="rto",
    title="DPO Meets PPO: Reinforced Token Optimization for RLHF",
    citation="H. Zhong, Z. Shan, G. Feng, W. Xiong, X. Cheng, L. Zhao, D. He, J. Bian, L. Wang, ICML 2025",
    arxiv="2404.18922",
    summary="PPO with a dense, clipped DPO token reward added to the sparse RM reward (RTO) vs PPO-sparse, DPO and "
            "ablations in a toy world with an exact hidden reward and exact KL; arm F (PPO on the true reward, dense vs "
            "sparse) shows on which axes the toy can see density at all.",
    stages=(
        Stage("prepare", "tasks.rto.prepare:run", P.PrepareParams,
              desc="TopicBigram world: hidden reward W, demonstrations, PPO and evaluation prompts"),
        Stage("sft", "tasks.rto.sft:run", P.SFTParams, after=("prepare",), curves=True,
              desc="tiny GPT from scratch on the demonstrations -> pi_ref"),
        Stage("preferences", "tasks.rto.preferences:run", P.PreferencesParams, after=("prepare", "sft"),
              desc="BT pairs from pi_ref labelled by the hidden reward (75-80 % agreement)"),
        Stage("reward_model", "tasks.rto.reward_model:run", P.RewardModelParams, after=("prepare", "sft", "preferences"),
              items=DATA_ITEMS, curves=True,
              desc="sentence-level BT reward model on all / a quarter of the pairs"),
        Stage("dpo", "tasks.rto.dpo:run", P.DPOParams, after=("prepare", "sft", "preferences"),
              items=DATA_ITEMS, curves=True,
              desc="DPO from pi_ref on all / a quarter of the pairs"),
        Stage("calibrate", "tasks.rto.calibrate:run", P.CalibrateParams, after=("prepare", "sft", "reward_model", "dpo"),
              desc="beta1 and clip c of RTO's DPO token reward by a rule fixed in code; arm F's reward scale"),
        Stage("ppo", "tasks.rto.ppo:run", P.PPOParams, after=("prepare", "sft", "reward_model", "dpo", "calibrate"),
              items=PPO_ITEMS, curves=True,
              desc="PPO of one arm and seed (arms differ only in the reward)"),
        Stage("grid", "tasks.rto.grid:run", P.GridParams, after=("prepare", "sft", "reward_model", "dpo", "calibrate"),
              desc="the sheet's beta1 x c and KL-coef x lr grids, one seed (full profile; nothing in default)"),
        Stage("evaluate", "tasks.rto.evaluate:run", P.EvaluateParams,
              after=("prepare", "sft", "reward_model", "dpo", "calibrate", "ppo"),
              desc="final true reward and exact KL of every policy; DPO's KL-reward curve; token rewards"),
        Stage("report", "tasks.rto.report:run", P.ReportParams, after=("evaluate", "grid"), report=True,
              desc="verdicts C1-C5, figures, report.md"),
    ),
    claims=(
        Claim("C1", "Same preference data, SFT, RM and PPO settings: PPO + clipped DPO token reward (RTO) gives higher "
              "true reward than PPO with only the sentence-level RM, at matched KL(pi || pi_ref).",
              "amended (issue 13; original in amended_from: at matched KL): final policies, RTO - PPO-sparse true "
              "reward > 0 in every one of 3 seeds and mean > 2 SE; guard: not worse at matched KL (mean + 2 SE > 0). "
              "Gates: RM accuracy >= 0.70, calibrated DPO term, final KLs <= 8 nats, arm F dense > sparse (final)"),
        Claim("C2", "RTO > DPO alone (and > pi_ref).",
              "amended (original: at matched KL, DPO's curve from geometric mixtures of pi_ref and pi_dpo): final "
              "policies, RTO - DPO > 0 in every seed and mean > 2 SE, RTO > pi_ref in every seed; guard at matched KL"),
        Claim("C3", "RTO reaches PPO's final true reward with fewer PPO rollouts (paper: 1/8 of the data); its "
              "reward-vs-rollouts curve lies above PPO's.",
              "RTO reaches PPO-sparse's final true reward in <= 50 % of its rollouts (every seed); gated on arm F "
              "(dense true reward reaches sparse's within 50 %). Reported: KL at reach, RTO with 1/4 of the pairs vs "
              "PPO-sparse with all pairs; 1/8 stretch target"),
        Claim("C4", "The gain comes from density: the same DPO signal summed and put on the last token recovers less.",
              "amended (original: B - D at matched KL): C - D (DPO token reward dense vs the same signal summed on "
              "the last token) on the final policies > 0 in the mean over seeds, guard at matched KL; secondary"),
        Claim("C5", "RTO still helps with a weaker RM (trained on fewer pairs).",
              "no pre-registered criterion: reported descriptively from the 1/4-pairs runs (RTO vs PPO-sparse, "
              "both with the weaker RM and DPO); INCONCLUSIVE by design, INCONCLUSIVE if not run"),
    ),
    profiles=P.PROFILES,
    order=5,
)
