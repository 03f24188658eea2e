"""The paper registry: each paper's card (stages, claims, profiles), as in lm-evaluation-harness's task registry.

A paper package `tasks/<slug>/__init__.py` defines `PAPER = Paper(...)`; `SLUGS` lists the registered ones.
dvc.yaml, the Prefect flows, the CLI and the contract tests are all derived from these cards.
"""
from __future__ import annotations

import importlib
import importlib.util
from dataclasses import dataclass, field
from typing import Any, Callable

from .errors import UserError

KNOWN = ("mdm", "precision", "pie", "opzo", "rto", "relay", "grsnn", "gdb", "larvseg", "busgen")
SLUGS: tuple[str, ...] = ("mdm", "precision", "pie", "opzo", "rto")  # registered: in dvc.yaml, params.yaml, the suite flow and the index
PROFILES = ("smoke", "default", "full")


@dataclass(frozen=True)
class Stage:
    """One pipeline stage: `fn` is "module:function" with signature (params, io) -> dict[str, float]."""

    name: str
    fn: str
    params: type
    after: tuple[str, ...] = ()          # upstream stages whose outputs this stage reads
    code: tuple[str, ...] = ()           # extra source files (relative to tasks/) whose change re-runs it
    items: tuple[str, ...] = ()          # one DVC stage per item (foreach), e.g. precision arms
    data: bool = False                   # reads data/ (tracked by data.dvc)
    curves: bool = False                 # logs per-step curves (declared as DVC plots)
    report: bool = False                 # the report stage: writes reports/<slug>/
    desc: str = ""

    def load(self) -> Callable[..., dict[str, float]]:
        module, func = self.fn.split(":")
        return getattr(importlib.import_module(module), func)


@dataclass(frozen=True)
class Claim:
    """A claim of the paper with its pre-registered criterion (text as in the paper sheet)."""

    id: str
    statement: str
    criterion: str


@dataclass(frozen=True)
class Paper:
    slug: str
    title: str
    citation: str
    arxiv: str
    stages: tuple[Stage, ...]
    claims: tuple[Claim, ...]
    profiles: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    summary: str = ""

    def stage(self, name: str) -> Stage:
        for s in self.stages:
            if s.name == name:
                return s
        names = ", ".join(s.name for s in self.stages)
        raise UserError(f"paper {self.slug!r} has no stage {name!r}; its stages are: {names}")

    def dvc_names(self, stage: Stage) -> list[str]:
        """DVC stage names: `mdm_train`, or `precision_train@fp32` for foreach stages."""
        base = f"{self.slug}_{stage.name}"
        return [f"{base}@{i}" for i in stage.items] if stage.items else [base]


def get_paper(slug: str) -> Paper:
    if slug not in KNOWN or importlib.util.find_spec(f"tasks.{slug}") is None:
        raise UserError(f"unknown paper {slug!r}; registered papers: {', '.join(SLUGS)} (see `paperflow list`)")
    return importlib.import_module(f"tasks.{slug}").PAPER


def all_papers() -> list[Paper]:
    return [get_paper(s) for s in SLUGS]


def resolve(target: str) -> list[Paper]:
    """'all' or one slug -> the papers it names."""
    return all_papers() if target == "all" else [get_paper(target)]
