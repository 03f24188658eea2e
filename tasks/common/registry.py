"""The paper registry: each paper's card (stages, claims, profiles), as in lm-evaluation-harness's task registry.

A package `tasks/<slug>/` whose `__init__.py` assigns `PAPER = Paper(...)` is registered: there is no hand-kept
list. The suite's order is the cards' `order` key, then the slug. dvc.yaml, the Prefect flows, the CLI and the
contract tests are all derived from these cards.
"""
from __future__ import annotations

import ast
import functools
import importlib
import itertools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from .errors import UserError

PROFILES = ("smoke", "default", "full")
TASKS_DIR = Path(__file__).resolve().parents[1]


class Item(str):
    """One foreach item of a stage: its DVC name (`bp-s0`) is the string; its axes are attributes (`item.arm`,
    `item.seed`). A str subclass, so `io.item == "dense"` and seeds salted with it stay as they were."""

    fields: dict[str, Any]

    def __new__(cls, name: str, **fields: Any) -> "Item":
        obj = super().__new__(cls, name)
        obj.fields = fields
        return obj

    def __getattr__(self, key: str) -> Any:
        try:
            return self.__dict__["fields"][key]
        except KeyError:
            raise AttributeError(f"item {str(self)!r} has no axis {key!r} (axes: {', '.join(self.fields)})") from None

    def __reduce__(self):
        return (_make_item, (str(self), self.fields))


def _make_item(name: str, fields: dict[str, Any]) -> Item:
    return Item(name, **fields)


def _part(axis: str, value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise TypeError(f"grid axis {axis}: values must be str or int, got {value!r}")
    return f"{axis[0]}{value}" if isinstance(value, int) else value


def grid(**axes: tuple) -> tuple[Item, ...]:
    """The cross product of the axes as items, named by their values joined with '-' (ints get the axis' first
    letter): `grid(arm=("bp", "zo"), seed=(0, 1))` -> bp-s0, bp-s1, zo-s0, zo-s1. Concatenate grids with `+`."""
    keys = list(axes)
    return tuple(Item("-".join(_part(k, v) for k, v in zip(keys, combo)), **dict(zip(keys, combo)))
                 for combo in itertools.product(*(axes[k] for k in keys)))


def as_items(items: tuple) -> tuple[Item, ...]:
    """Plain strings become single-axis items (`item.name`)."""
    return tuple(i if isinstance(i, Item) else Item(i, name=i) for i in items)


@dataclass(frozen=True)
class Stage:
    """One pipeline stage: `fn` is "module:function" with signature (params, io) -> dict[str, float].

    Its code dependencies are derived (tasks/common/deps.py), never listed by hand."""

    name: str
    fn: str
    params: type
    after: tuple[str, ...] = ()          # upstream stages whose outputs this stage reads
    items: tuple = ()                    # one DVC stage per item (foreach): strings or `grid(...)` items
    data: bool = False                   # reads data/ (tracked by data.dvc)
    curves: bool = False                 # logs per-step curves (declared as DVC plots)
    report: bool = False                 # the report stage: writes reports/<slug>/
    desc: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "items", as_items(tuple(self.items)))
        names = [str(i) for i in self.items]
        if len(set(names)) != len(names):
            raise ValueError(f"stage {self.name}: duplicate item names")

    @property
    def module(self) -> str:
        return self.fn.split(":")[0]

    def load(self) -> Callable[..., dict[str, float]]:
        module, func = self.fn.split(":")
        return getattr(importlib.import_module(module), func)

    def item(self, name: str | None) -> Item | None:
        if name is None:
            return None
        return next((i for i in self.items if i == name), None)


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
    order: int = 100                     # position in the suite (ties: slug order)

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


def _defines_paper(init: Path) -> bool:
    try:
        tree = ast.parse(init.read_text())
    except (OSError, SyntaxError):
        return False
    return any(isinstance(n, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "PAPER" for t in n.targets)
               for n in tree.body)


@functools.cache
def slugs() -> tuple[str, ...]:
    """Registered papers in suite order: packages under tasks/ whose __init__.py assigns PAPER."""
    found = [d.name for d in sorted(TASKS_DIR.iterdir())
             if d.is_dir() and d.name.isidentifier() and _defines_paper(d / "__init__.py")]
    cards = {s: importlib.import_module(f"tasks.{s}").PAPER for s in found}
    return tuple(sorted(found, key=lambda s: (cards[s].order, s)))


def slug_names() -> str:
    """Registered slugs for help texts, without importing the cards (alphabetical)."""
    return ", ".join(d.name for d in sorted(TASKS_DIR.iterdir())
                     if d.is_dir() and d.name.isidentifier() and _defines_paper(d / "__init__.py"))


def get_paper(slug: str) -> Paper:
    if not (isinstance(slug, str) and slug.isidentifier() and _defines_paper(TASKS_DIR / slug / "__init__.py")):
        raise UserError(f"unknown paper {slug!r}; registered papers: {slug_names()} (see `paperflow list`)")
    return importlib.import_module(f"tasks.{slug}").PAPER


def all_papers() -> list[Paper]:
    return [get_paper(s) for s in slugs()]


def resolve(target: str) -> list[Paper]:
    """'all' or one slug -> the papers it names."""
    return all_papers() if target == "all" else [get_paper(target)]
