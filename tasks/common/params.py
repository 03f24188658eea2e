"""Typed, validated stage parameters (pydantic), loaded from params.yaml with a profile overlay.

params.yaml holds `<slug>.profile` and one section per stage, `<slug>.<stage>`, with the default-profile values
DVC tracks. A paper's `profiles` dict overrides a few size knobs for `smoke` and `full`. Any unknown key or bad
value raises `UserError` naming the dotted key, before anything is written.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from .errors import UserError
from .registry import PROFILES, Paper, Stage
from .schema import StageParams

PAPER_KEYS = ("profile", "seed")   # paper-level keys of a params.yaml section (besides one section per stage)


def params_hash(p: BaseModel) -> str:
    return hashlib.sha256(json.dumps(p.model_dump(), sort_keys=True).encode()).hexdigest()[:12]


def read_yaml(path: Path) -> dict[str, Any]:
    if not path.exists():
        raise UserError(f"{path}: not found; run from the repository root (or restore it with `git checkout {path.name}`)")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as e:
        line = getattr(getattr(e, "problem_mark", None), "line", None)
        raise UserError(f"{path}: not valid YAML (line {line + 1 if line is not None else '?'}); fix the syntax") from None
    if not isinstance(data, dict):
        raise UserError(f"{path}: expected a mapping of paper sections at the top level")
    return data


def _format(err: ValidationError, prefix: str, cls: type[BaseModel]) -> str:
    e = err.errors()[0]
    key = ".".join([prefix, *map(str, e["loc"])])
    if e["type"] == "extra_forbidden":
        return f"params.yaml: unknown key {key}; valid keys: {', '.join(cls.model_fields)}"
    if e["type"] == "missing":
        return f"params.yaml: missing key {key}; add it (default in tasks/{prefix.split('.')[0]}/params.py)"
    msg = e["msg"].removeprefix("Value error, ")
    if not e["loc"]:                                     # a constraint between fields
        return f"params.yaml: {key}: {msg}; fix the values in params.yaml"
    got, hint = e.get("input"), ""
    if isinstance(got, str):
        try:
            float(got)
            hint = " (YAML reads 1e-3 as text: write 1.0e-3)"
        except ValueError:
            pass
    return f"params.yaml: {key}: {msg.lower()} (got {got!r}){hint}; fix the value in params.yaml"


def validate(cls: type[StageParams], values: dict[str, Any], key: str) -> StageParams:
    if not isinstance(values, dict):
        raise UserError(f"params.yaml: {key} must be a mapping of parameters, got {type(values).__name__}")
    try:
        return cls(**values)
    except ValidationError as err:
        raise UserError(_format(err, key, cls)) from None


def paper_section(all_params: dict[str, Any], paper: Paper) -> tuple[str, dict[str, Any]]:
    """The paper's section of params.yaml and its profile, with unknown stage sections rejected."""
    section = all_params.get(paper.slug)
    if not isinstance(section, dict):
        raise UserError(f"params.yaml: no section {paper.slug!r}; add it (`paperflow params {paper.slug}` prints the defaults)")
    names = {s.name for s in paper.stages}
    for k in section:
        if k not in PAPER_KEYS and k not in names:
            raise UserError(f"params.yaml: unknown key {paper.slug}.{k}; valid keys: "
                            f"{', '.join(PAPER_KEYS)}, {', '.join(sorted(names))}")
    profile = section.get("profile", "default")
    if profile not in PROFILES:
        raise UserError(f"params.yaml: {paper.slug}.profile: must be one of {', '.join(PROFILES)} (got {profile!r})")
    paper_seed(section, paper.slug)
    return profile, section


def paper_seed(section: dict[str, Any], slug: str) -> int:
    """`<slug>.seed` (default 0): salts every stage seed of the paper (`dvc exp run -S mdm.seed=11`)."""
    seed = section.get("seed", 0)
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise UserError(f"params.yaml: {slug}.seed: must be an integer >= 0 (got {seed!r}); fix the value in params.yaml")
    return seed


def stage_params(all_params: dict[str, Any], paper: Paper, stage: Stage) -> StageParams:
    """Effective params of one stage: params.yaml values overlaid with the profile's overrides."""
    profile, section = paper_section(all_params, paper)
    key = f"{paper.slug}.{stage.name}"
    values = section.get(stage.name) or {}
    validate(stage.params, values, key)             # every value in params.yaml, whether a profile overrides it or not
    values = {**values, **paper.profiles.get(profile, {}).get(stage.name, {})}
    return validate(stage.params, values, key)


def check_paper(all_params: dict[str, Any], paper: Paper) -> dict[str, StageParams]:
    """Validate every stage of a paper (used before any run starts, so nothing is half-written)."""
    return {s.name: stage_params(all_params, paper, s) for s in paper.stages}


def defaults(paper: Paper) -> dict[str, Any]:
    """The default-profile params.yaml section of a paper, from its typed defaults."""
    out: dict[str, Any] = {"profile": "default", "seed": 0}
    for s in paper.stages:
        out[s.name] = s.params().model_dump()
    return out


def parse_override(text: str) -> tuple[list[str], Any]:
    """`mdm.train.steps=10` -> (['mdm','train','steps'], 10), as `dvc exp run -S` takes it."""
    if "=" not in text:
        raise UserError(f"override {text!r}: expected KEY=VALUE, e.g. mdm.train.steps=10")
    key, val = text.split("=", 1)
    return key.split("."), yaml.safe_load(val)


def set_values(path: Path, updates: list[tuple[list[str], Any]]) -> bool:
    """Edit params.yaml in place keeping comments (ruamel round trip); True if anything changed."""
    from ruamel.yaml import YAML

    ry = YAML()
    ry.preserve_quotes = True
    doc = ry.load(path.read_text())
    changed = False
    for keys, val in updates:
        node = doc
        for k in keys[:-1]:
            if k not in node:
                raise UserError(f"params.yaml: unknown key {'.'.join(keys)}; see `paperflow list`")
            node = node[k]
        if node.get(keys[-1]) != val:
            node[keys[-1]] = val
            changed = True
    if changed:
        tmp = path.with_suffix(".yaml.tmp")
        with tmp.open("w") as f:
            ry.dump(doc, f)
        tmp.replace(path)
    return changed
