"""The portal's catalogues: every stable error code the three APIs can answer has Chinese (errors.po), every
value the pages show as a code has Chinese (codes.po), and every message id the portal uses has Chinese.

The error codes are found in the source, not listed by hand: an AST walk over the services and the shared
runtime collects the code of every domain error raised or returned (Invalid, NotFound, Conflict, Forbidden,
Unauthorized, TooLarge, Refused, DomainError and their subclasses' `super().__init__`), every per-row error
(RowError), every envelope written by hand (`error_body`, the body limit's `_answer`), and the `code`
class attributes of error classes. A code passed as a variable is followed to the string constants assigned to
it; a code built with an f-string is expanded over the enum named in FORMATTED (a new one fails the test until
it is added there). Adding a code anywhere without its Chinese fails `test_every_api_error_code_has_chinese`.
"""

import ast
import enum
import importlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

from portal import i18n, messages

ROOT = Path(__file__).resolve().parents[3]
SOURCES = [ROOT / "shared" / "src"] + [
    ROOT / "services" / name / "src" for name in ("enrollment", "funding", "talent-card")
]
CATALOGUES = ROOT / "services" / "portal" / "src" / "portal" / "locale" / "zh_CN" / "LC_MESSAGES"

ERROR_BASES = {"DomainError", "Invalid", "NotFound", "Conflict", "Forbidden", "Unauthorized", "TooLarge"}
CODE_POSITION = {  # callee -> index of the code among its positional arguments (error classes: 0)
    "Refused": 1,
    "RowError": 1,
    "error_body": 0,
    "_answer": 2,
}
FORMATTED = {"notice_already_": "talent_card.domain.NoticeStatus"}
"""f-string codes: their literal prefix -> the enum whose values complete them."""
DEFAULT_CODES = {"refused"}  # Refused's default code
ENVELOPE_CODES = {"http_error"}  # plan_runtime.http: any other HTTP status Starlette raises


@dataclass(frozen=True)
class Found:
    code: str
    where: str


@dataclass(frozen=True)
class Kinds:
    errors: frozenset[str]  # DomainError and its subclasses, by class name
    coded: frozenset[str]  # those of them that carry their code as a class attribute (called with a message)


def _kinds(trees: list[ast.Module]) -> Kinds:
    classes = [node for tree in trees for node in ast.walk(tree) if isinstance(node, ast.ClassDef)]
    errors, coded = set(ERROR_BASES), set()
    changed = True
    while changed:  # subclasses of subclasses, in any file order
        changed = False
        for node in classes:
            bases = {b.id if isinstance(b, ast.Name) else getattr(b, "attr", "") for b in node.bases}
            if node.name not in errors and bases & errors:
                errors.add(node.name)
                changed = True
            has_code = any(
                isinstance(i, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "code" for t in i.targets)
                for i in node.body
            )
            if node.name in errors and (has_code or bases & coded) and node.name not in coded:
                coded.add(node.name)
                changed = True
    errors.discard("Refused")  # Refused(message, code="refused"): CODE_POSITION
    return Kinds(frozenset(errors), frozenset(coded))


class _Collector(ast.NodeVisitor):
    def __init__(self, path: Path, tree: ast.Module, kinds: Kinds) -> None:
        self.path, self.tree, self.kinds = path, tree, kinds
        self.found: list[Found] = []
        self.unresolved: list[str] = []
        self.module_strings = {
            target.id: _strings(node.value)
            for node in tree.body
            if isinstance(node, ast.Assign)
            for target in node.targets
            if isinstance(target, ast.Name)
        }
        self.functions: list[ast.AST] = []
        self.classes: list[ast.ClassDef] = []

    def where(self, node: ast.AST) -> str:
        return f"{self.path.relative_to(ROOT)}:{getattr(node, 'lineno', 0)}"

    def visit_FunctionDef(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        self.functions.append(node)
        self.generic_visit(node)
        self.functions.pop()

    visit_AsyncFunctionDef = visit_FunctionDef  # type: ignore[assignment]

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        self.classes.append(node)
        if node.name in self.kinds.errors:
            for item in node.body:  # `code = "..."` on an error class
                if isinstance(item, ast.Assign) and any(
                    isinstance(t, ast.Name) and t.id == "code" for t in item.targets
                ):
                    for code in _strings(item.value):
                        self.found.append(Found(code, self.where(item)))
        self.generic_visit(node)
        self.classes.pop()

    def visit_Call(self, node: ast.Call) -> None:
        name = _callee(node.func)
        position = CODE_POSITION.get(name) if name else None
        if name in self.kinds.errors:
            position = None if name in self.kinds.coded else 0  # a class with its own `code` takes a message only
        if name == "__init__" and self.classes and _is_super(node.func):
            cls = self.classes[-1].name
            position = 0 if cls in self.kinds.errors and cls not in self.kinds.coded else None
        if position is not None:
            arg = next((k.value for k in node.keywords if k.arg == "code"), None)
            if arg is None and len(node.args) > position:
                arg = node.args[position]
            if arg is not None:
                self._code(arg, node)
        self.generic_visit(node)

    def _code(self, arg: ast.expr, node: ast.Call) -> None:
        if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
            self.found.append(Found(arg.value, self.where(node)))
        elif isinstance(arg, ast.JoinedStr):
            prefix = "".join(str(v.value) for v in arg.values if isinstance(v, ast.Constant))
            if prefix not in FORMATTED:
                self.unresolved.append(f"{self.where(node)}: f-string code {ast.unparse(arg)}: add it to FORMATTED")
                return
            module, _, enum_name = FORMATTED[prefix].rpartition(".")
            for member in getattr(importlib.import_module(module), enum_name):
                self.found.append(Found(prefix + member.value, self.where(node)))
        elif isinstance(arg, ast.Name):
            codes = self._assigned(arg.id)
            if codes:
                self.found.extend(Found(code, self.where(node)) for code in codes)
            elif not self._is_parameter(arg.id):
                self.unresolved.append(f"{self.where(node)}: code from variable {arg.id}")
        elif isinstance(arg, ast.Attribute):
            return  # an error's own code passed on (error.code, type(self).code): collected where it was made
        else:
            self.unresolved.append(f"{self.where(node)}: code {ast.unparse(arg)}")

    def _assigned(self, name: str) -> set[str]:
        """String constants assigned to `name` in the enclosing function (and module dicts they read)."""
        if not self.functions:
            return set(self.module_strings.get(name, ()))
        codes: set[str] = set()
        for node in ast.walk(self.functions[-1]):
            if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == name for t in node.targets):
                codes |= _strings(node.value)
                for used in ast.walk(node.value):
                    if isinstance(used, ast.Name) and used.id in self.module_strings:
                        codes |= self.module_strings[used.id]
        return codes

    def _is_parameter(self, name: str) -> bool:
        function = self.functions[-1] if self.functions else None
        args = getattr(function, "args", None)
        return args is not None and name in {a.arg for a in args.args + args.kwonlyargs}


def _strings(node: ast.AST) -> set[str]:
    """String constants of an expression (a dict's values, not its keys; both branches of a conditional)."""
    if isinstance(node, ast.Dict):
        return set().union(*(_strings(v) for v in node.values)) if node.values else set()
    if isinstance(node, ast.Constant):
        return {node.value} if isinstance(node.value, str) else set()
    if isinstance(node, ast.IfExp):
        return _strings(node.body) | _strings(node.orelse)
    if isinstance(node, ast.Call):  # e.g. CODES.get(status, "http_error"): its string arguments
        return set().union(*(_strings(a) for a in node.args)) if node.args else set()
    return set()


def _callee(func: ast.expr) -> str | None:
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        return func.attr
    return None


def _is_super(func: ast.expr) -> bool:
    return (
        isinstance(func, ast.Attribute)
        and isinstance(func.value, ast.Call)
        and isinstance(func.value.func, ast.Name)
        and func.value.func.id == "super"
    )


def _python_files() -> Iterator[Path]:
    for source in SOURCES:
        yield from sorted(p for p in source.rglob("*.py") if "egg-info" not in p.parts)


def error_codes() -> tuple[dict[str, str], list[str]]:
    """Every error code in the APIs' source -> where it is first made; and the code arguments not understood."""
    trees = {path: ast.parse(path.read_text(encoding="utf-8"), str(path)) for path in _python_files()}
    kinds = _kinds(list(trees.values()))
    codes: dict[str, str] = {code: "plan_runtime.errors.Refused" for code in DEFAULT_CODES}
    codes.update({code: "plan_runtime.http" for code in ENVELOPE_CODES})
    unresolved: list[str] = []
    for path, tree in trees.items():
        collector = _Collector(path, tree, kinds)
        collector.visit(tree)
        for found in collector.found:
            codes.setdefault(found.code, found.where)
        unresolved += collector.unresolved
    return codes, unresolved


def catalogue(name: str) -> dict[str, str]:
    with (CATALOGUES / name).open("rb") as file:
        return {str(m.id): str(m.string) for m in read_po(file, locale="zh_CN") if m.id}


# --- errors.po ----------------------------------------------------------------------------------------------


def test_the_error_codes_are_found_in_the_source() -> None:
    codes, unresolved = error_codes()
    assert unresolved == [], "code arguments the test cannot follow (teach it): " + "\n".join(unresolved)
    # a few from every kind of place, so the walk cannot silently find nothing
    for code in (
        "unauthorized",  # plan_runtime.auth and the body limit
        "body_too_large",  # the body limit's envelope
        "invalid_request",  # request validation
        "method_not_allowed",  # Starlette's refusals, through _HTTP_CODES
        "enrolled_elsewhere",  # enrollment.domain
        "raced",  # an error subclass's super().__init__
        "invalid_upload",  # CohortError.code
        "too_many_rows",  # TooManyRows.code
        "invalid_id_number",  # a row's code chosen in a conditional
        "totals_mismatch",  # funding.domain
        "notice_already_issued",  # an f-string expanded over NoticeStatus
        "card_number_in_use",  # a store's translated unique violation
        "dead_letter_not_found",  # the runtime's operations routes
    ):
        assert code in codes, code
    assert len(codes) > 40


def test_every_api_error_code_has_chinese() -> None:
    codes, _ = error_codes()
    errors = catalogue("errors.po")
    missing = sorted(f"{code}  ({where})" for code, where in codes.items() if not errors.get(f"error.{code}"))
    assert missing == [], "error codes without Chinese in errors.po:\n" + "\n".join(missing)


def test_errors_po_holds_only_error_codes_with_chinese() -> None:
    for msgid, text in catalogue("errors.po").items():
        assert msgid.startswith("error."), msgid
        assert text and any("\u4e00" <= ch <= "\u9fff" for ch in text), msgid


def test_a_refusal_is_shown_in_chinese_by_default_and_in_the_apis_words_in_english() -> None:
    assert i18n.LANG.get() == "zh"
    assert (
        i18n.error_message("enrolled_elsewhere", "the person is enrolled elsewhere")
        == (catalogue("errors.po")["error.enrolled_elsewhere"])
    )
    token = i18n.LANG.set("en")
    try:
        assert i18n.error_message("enrolled_elsewhere", "the person is enrolled elsewhere") == (
            "the person is enrolled elsewhere"
        )
    finally:
        i18n.LANG.reset(token)


# --- codes.po -----------------------------------------------------------------------------------------------

ENUMS = (
    "plan_events.vocabulary.Tier",
    "plan_events.vocabulary.TargetGroup",
    "plan_events.vocabulary.Mode",
    "plan_events.vocabulary.Outcome",
    "plan_events.vocabulary.SubsidyRejection",
    "plan_events.vocabulary.EligibilityRoute",
    "enrollment.domain.EnrollmentStatus",
    "enrollment.domain.InstitutionStatus",
    "enrollment.domain.InstitutionMode",
    "funding.domain.SubsidyStatus",
    "funding.domain.BatchStatus",
    "funding.domain.InstitutionStatus",
    "funding.domain.EntryKind",
    "talent_card.domain.EvidenceKind",
    "talent_card.domain.EvidenceStatus",
    "talent_card.domain.NoticeStatus",
)
READ_MODEL_CODES = ("passed", "failed", "open", "withdrawn", "approved", "rejected", "reversed", "active", "suspended")
"""The statuses of the portal's own read model (migrations/0001_portal.sql) and its reversals."""


def _enum_values() -> Iterator[tuple[str, str]]:
    for dotted in ENUMS:
        module, _, name = dotted.rpartition(".")
        kind = getattr(importlib.import_module(module), name)
        assert issubclass(kind, enum.Enum), dotted
        for member in kind:
            yield str(member.value), dotted


def test_every_enum_the_pages_show_is_listed() -> None:
    """A new StrEnum in plan_events or a service's domain must be added to ENUMS (and translated)."""
    listed = set(ENUMS)
    for module in ("plan_events.vocabulary", "enrollment.domain", "funding.domain", "talent_card.domain"):
        loaded = importlib.import_module(module)
        for name, value in vars(loaded).items():
            if isinstance(value, type) and issubclass(value, enum.Enum) and value.__module__ == module:
                assert f"{module}.{value.__name__}" in listed, f"{module}.{name}: add it to ENUMS"


@pytest.mark.parametrize("value", sorted({v for v, _ in _enum_values()} | set(READ_MODEL_CODES)))
def test_every_code_value_has_chinese(value: str) -> None:
    codes = catalogue("codes.po")
    assert codes.get(f"code.{value}"), f"code.{value} has no Chinese in codes.po"


def test_codes_po_holds_only_codes_with_chinese() -> None:
    for msgid, text in catalogue("codes.po").items():
        assert msgid.startswith("code."), msgid
        assert text and any("\u4e00" <= ch <= "\u9fff" for ch in text), msgid


def test_a_code_is_shown_translated_in_chinese_and_as_is_in_english() -> None:
    from portal.tables import translate_code

    assert translate_code("senior") == catalogue("codes.po")["code.senior"]
    assert translate_code("no_such_code_at_all") == "no_such_code_at_all"
    token = i18n.LANG.set("en")
    try:
        assert translate_code("senior") == "senior"
    finally:
        i18n.LANG.reset(token)


# --- every catalogue ----------------------------------------------------------------------------------------


def test_no_catalogue_has_an_empty_translation() -> None:
    empty = [
        f"{path.name}: {msgid}"
        for path in sorted(CATALOGUES.glob("*.po"))
        for msgid, text in catalogue(path.name).items()
        if not text
    ]
    assert empty == [], "empty msgstr:\n" + "\n".join(empty)


def test_every_message_the_portal_uses_has_chinese() -> None:
    """Fails while any page's catalogue is incomplete (`python -m portal.messages` lists the same)."""
    gaps = [f"{where}\t{msgid}" for msgid, where in messages.missing()]
    assert gaps == [], f"{len(gaps)} message id(s) without Chinese:\n" + "\n".join(gaps)


def test_a_message_reads_the_same_on_every_page() -> None:
    """Each page group has its own catalogue; a message id two of them translate differently would depend on the
    order the files are merged in (and a page would contradict another)."""
    from babel.messages.pofile import read_po

    from portal.i18n import po_files

    seen: dict[str, dict[str, str]] = {}
    for path in po_files():
        with path.open("rb") as file:
            for message in read_po(file):
                if message.id and message.string:
                    seen.setdefault(str(message.id), {})[path.name] = str(message.string)
    contradictions = {msgid: found for msgid, found in seen.items() if len(set(found.values())) > 1}
    assert contradictions == {}
