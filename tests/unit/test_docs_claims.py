"""What a newcomer copies from the README and the docs still works: every `phonos ...` command line parses with the
real argparse parsers (each verb and flag the prose names exists), every HTTP route named exists in the gateway
(the protos' google.api.http rules and the dashboard's routes), every PHONOS_* variable named is one the code
reads, and every link between the docs resolves, anchors included. The docs grew over many sessions and had
drifted from the code in each of these ways; these checks read the docs, so the drift is caught where it starts."""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import io
import re
import shlex
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiohttp import web
from phonos_client import cli as client_cli

from gateway.dashboard.routes import PAGES, SHARED_PAGE, Dashboard
from gateway.http_rule import rules_for_service
from launcher import cli as operator_cli
from phonos.v1 import phonos_pb2
from phonos_config.service import ServiceSettings

pytestmark = pytest.mark.unit

REPO = Path(__file__).resolve().parents[2]
# The docs this test holds to the code (the models' pages have their own owners and checks); CHANGELOG.md's
# upgrade notes name settings, commands and routes an operator acts on, so they are held the same way.
DOCS = ("README.md", "CHANGELOG.md", "docs/gateway.md", "docs/webhooks.md", "docs/observability.md",
        "docs/clients.md")
# Folders whose code reads PHONOS_* variables (tests and docs excluded: a name only they use is not a setting).
CODE_FOLDERS = ("jobservice", "gateway", "launcher", "phonos_config", "phonos_common", "clients/python/phonos_client",
                "triton_models", "scripts", "deploy")
# Names the docs use that are not settings: the receiver example's own variable (docs/webhooks.md).
NOT_SETTINGS = {"PHONOS_WEBHOOK_SECRET"}


@dataclasses.dataclass(frozen=True)
class Mention:
    doc: str
    line: int
    text: str
    in_code_block: bool

    def __str__(self) -> str:
        return f"{self.doc}:{self.line}: {self.text}"


def doc_lines(doc: str) -> Iterator[tuple[int, str, bool]]:
    """(line number, line, inside a ``` block) of one doc."""
    in_block = False
    for number, line in enumerate((REPO / doc).read_text().splitlines(), 1):
        if line.lstrip().startswith("```"):
            in_block = not in_block
            continue
        yield number, line, in_block


# ---------------------------------------------------------------------------------------------------
# `phonos ...` commands

def command_mentions() -> list[Mention]:
    """Every `phonos ...` the docs show: whole lines in code blocks (a `# comment` and a pipe after them cut off),
    and `backquoted` spans in the prose."""
    found: list[Mention] = []
    for doc in DOCS:
        for number, line, in_block in doc_lines(doc):
            if in_block:
                match = re.match(r"\s*(?:\S+=\S+ )*((?:\.venv/bin/)?phonos [a-z].*)", line)
                if match:
                    text = re.split(r" {2,}#| # | \| ", match.group(1))[0]
                    found.append(Mention(doc, number, text.strip(), True))
            else:
                found += [Mention(doc, number, span, False)
                          for span in re.findall(r"`((?:\.venv/bin/)?phonos [^`]+)`", line)]
    return found


def sub_parsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    return {name: sub for action in parser._actions if isinstance(action, argparse._SubParsersAction)
            for name, sub in action.choices.items()}


def parser_for(verb: str) -> argparse.ArgumentParser:
    """The parser that runs a verb: the operator's for its verbs, the users' for the rest (launcher.cli._main),
    taking whole flags only: argparse would read the docs' `--max-rate-lim` as --max-rate-limit."""
    parser = operator_cli.build_parser() if verb in client_cli.OPERATOR_VERBS else client_cli.build_parser()
    exact([parser])
    return parser


def exact(parsers: list[argparse.ArgumentParser]) -> None:
    for parser in parsers:
        parser.allow_abbrev = False
        exact(list(sub_parsers(parser).values()))


def words_of(text: str) -> list[str]:
    """A command as the shell splits it, with the docs' notation taken off: `[--flag X]` (optional: shown, so
    parsed too), `A\\|B` alternatives (the first) and a trailing `...` (more of the same)."""
    text = text.replace("\\|", "|").replace("[", " ").replace("]", " ")
    text = re.sub(r"(\S+)\|\S+", r"\1", text)  # esmfold|alphafold2 -> esmfold; --limit N|--all -> --limit N
    words = [PLACEHOLDERS.get(word, word) for word in shlex.split(text) if word != "..."]
    return words[1:]


# Placeholders the docs write where a value goes, as a value the parsers' types accept.
PLACEHOLDERS = {"URL": "http://127.0.0.1:8080", "N": "3"}


# Prose that starts with `phonos ` but is not a command line: what a command prints, and the application_name
# a job service's PostgreSQL connections carry (README, Upgrades).
PRINTED = ("phonos at ", "phonos dock: ", "phonos schema ")

CODE_COMMANDS = [m for m in command_mentions() if m.in_code_block and not m.text.startswith(PRINTED)]
PROSE_COMMANDS = [m for m in command_mentions() if not m.in_code_block and not m.text.startswith(PRINTED)]


def test_the_docs_show_commands() -> None:
    assert len(CODE_COMMANDS) > 20 and len(PROSE_COMMANDS) > 40  # the extraction still finds them


@pytest.mark.parametrize("mention", CODE_COMMANDS, ids=str)
def test_every_command_line_in_a_code_block_parses(mention: Mention) -> None:
    """Pasted as shown (optional parts included), the command is accepted by the parser that runs it."""
    words = words_of(mention.text)
    parser = parser_for(words[0])
    stderr = io.StringIO()
    with contextlib.redirect_stderr(stderr), contextlib.redirect_stdout(io.StringIO()):
        try:
            _, extra = parser.parse_known_args(words)
        except SystemExit as exit_:
            pytest.fail(f"{mention}\n  refused ({exit_.code}): {stderr.getvalue().strip()}")
    assert extra == [], f"{mention}\n  unrecognized: {extra}"


@pytest.mark.parametrize("mention", PROSE_COMMANDS, ids=str)
def test_every_command_the_prose_names_has_its_verbs_and_flags(mention: Mention) -> None:
    """`phonos keys update KEY_ID --expires-in-days N` in a sentence: `keys update` is a command and takes
    --expires-in-days. A fragment (`phonos keys create --max-rate-limit`) need not be a whole command line."""
    words = words_of(mention.text)
    if mention.text.split()[1] == "...":  # `phonos ... --all`: any verb
        return
    verbs = words[0].split("|")  # `phonos keys|users|credits`: each
    for verb in verbs:
        parser, path = parser_for(verb), list[str]()
        for word in [verb, *words[1:]]:
            subs = sub_parsers(parser)
            if not subs or word.startswith("-"):  # `phonos --help`: the top parser's option
                break
            assert word in subs, f"{mention}\n  {' '.join(['phonos', *path, word])!r} is not a command"
            parser, path = subs[word], [*path, word]
        options = {option for action in parser._actions for option in action.option_strings}
        for flag in (word.split("=", 1)[0] for word in words if word.startswith("--")):
            assert flag in options, f"{mention}\n  phonos {' '.join(path)} takes no {flag}"


# ---------------------------------------------------------------------------------------------------
# HTTP routes

def gateway_routes() -> list[tuple[str, re.Pattern[str]]]:
    """(method, path pattern) of every route the gateway serves: the rpcs' google.api.http rules, the OpenAPI
    document and the dashboard's own routes (added by Dashboard.add_routes, read back from a real app)."""
    service = phonos_pb2.DESCRIPTOR.services_by_name["PhonosService"]
    routes = [(rule.http_method, rule.template.text) for rule in rules_for_service(service)]
    routes.append(("GET", "/v1/openapi.json"))
    app = web.Application()
    Dashboard.add_routes(Dashboard.__new__(Dashboard), app)  # add_routes only registers the bound handlers
    for route in app.router.routes():
        info = route.resource.get_info() if route.resource is not None else {}
        routes.append((route.method, info.get("path") or info.get("formatter", "")))
    assert {"/jobs", SHARED_PAGE} <= {path for _, path in routes} and PAGES
    return [(method, re.compile("^" + re.sub(r"\{[^}]*\}", "[^/]+", path) + "$")) for method, path in routes]


def route_mentions() -> list[tuple[Mention, str, str]]:
    """(mention, method, path) for `GET /v1/...`-style mentions and for curl lines (`-X METHOD $B/v1/...`)."""
    found: list[tuple[Mention, str, str]] = []
    for doc in DOCS:
        for number, line, in_block in doc_lines(doc):
            if in_block and line.lstrip().startswith("curl") and "$B/" in line:
                method = re.search(r"-X (\w+)", line)
                path = re.search(r"\$B(/[^\s\"'?]*)", line)
                assert path is not None
                found.append((Mention(doc, number, line.strip(), True), method.group(1) if method else "GET",
                              path.group(1)))
            for match in re.finditer(r"\b(GET|POST|PATCH|DELETE|PUT) `?(/(?:v1|auth|shared)[^\s`),;?']*)", line):
                if match.group(0) in HYPOTHETICAL:
                    continue
                found.append((Mention(doc, number, match.group(0), in_block), match.group(1), match.group(2)))
    return found


ROUTES = gateway_routes()
# docs/gateway.md's routing rules explain a custom verb with a rule phonos does not declare.
HYPOTHETICAL = {"POST /v1/jobs/abc:cancel"}


@pytest.mark.parametrize(("mention", "method", "path"), route_mentions(), ids=lambda value: str(value))
def test_every_route_the_docs_name_exists(mention: Mention, method: str, path: str) -> None:
    path = re.sub(r"\$[A-Z_]+|\{[^}]*\}|<[^>]*>|\b[A-Z]+(?:_[A-Z]+)*_ID\b", "x", path.rstrip(".:"))
    path = path.replace("…", "x")
    assert any(method == route_method and pattern.match(path) for route_method, pattern in ROUTES), \
        f"{mention}\n  {method} {path}: no such route"


# ---------------------------------------------------------------------------------------------------
# PHONOS_* variables and links

def names_the_code_reads() -> set[str]:
    names = {f"PHONOS_{field.name.upper()}" for field in dataclasses.fields(ServiceSettings)}
    for folder in CODE_FOLDERS:
        for path in (REPO / folder).rglob("*"):
            if path.suffix in (".py", ".sh", ".yaml", ".yml", ".pbtxt", ".env") and path.is_file():
                names.update(re.findall(r"PHONOS_[A-Z0-9_]*[A-Z0-9]", path.read_text(errors="replace")))
    return names


def test_every_phonos_variable_the_docs_name_is_read_by_the_code() -> None:
    known, unknown = names_the_code_reads(), []
    for doc in DOCS:
        for number, line, _ in doc_lines(doc):
            for name in re.findall(r"PHONOS_[A-Z0-9_<>*]*[A-Z0-9>]", line):
                if "<MODEL>" in name:  # PHONOS_<MODEL>_TIMEOUT_S: each model's
                    expanded = [name.replace("<MODEL>", model) for model in ("ESMFOLD", "ALPHAFOLD2", "DIFFDOCK")]
                    unknown += [f"{doc}:{number}: {each}" for each in expanded if each not in known]
                elif "*" not in name and name not in known | NOT_SETTINGS:
                    unknown.append(f"{doc}:{number}: {name}")
    assert unknown == []


def heading_anchors(doc: Path) -> set[str]:
    """GitHub's anchors of a Markdown file's headings: lower case, punctuation but - and _ dropped, spaces -."""
    anchors = set()
    in_block = False
    for line in doc.read_text().splitlines():
        if line.lstrip().startswith("```"):
            in_block = not in_block
        elif not in_block and (heading := re.match(r"#{1,6} (.*)", line)):
            text = heading.group(1).strip().lower().replace("`", "")
            anchors.add(re.sub(r"[^\w\- ]", "", text).replace(" ", "-"))
    return anchors


def test_every_link_between_the_docs_resolves() -> None:
    broken = []
    for doc in DOCS:
        for number, line, _ in doc_lines(doc):
            for target in re.findall(r"\]\(([^)\s]+)\)", line):
                if re.match(r"[a-z]+:", target):
                    continue
                path, _, anchor = target.partition("#")
                file = (REPO / doc).parent / path if path else REPO / doc
                if not file.exists():
                    broken.append(f"{doc}:{number}: {target} (no such file)")
                elif anchor and file.suffix == ".md" and anchor not in heading_anchors(file):
                    broken.append(f"{doc}:{number}: {target} (no such heading)")
    assert broken == []


# ---------------------------------------------------------------------------------------------------
# Lists the docs keep of the code's own lists

def test_the_module_tables_name_every_module() -> None:
    """docs/gateway.md lists gateway/'s and phonos_common/'s modules, docs/clients.md the SDK's: a newcomer looks
    there first for where something lives (json_shape.py, rpc_failure.py and four client modules were missing)."""
    missing = []
    for folder, doc in (("gateway", "docs/gateway.md"), ("phonos_common", "docs/gateway.md"),
                        ("clients/python/phonos_client", "docs/clients.md")):
        text = (REPO / doc).read_text()
        missing += [f"{doc}: {folder}/{module.name}" for module in sorted((REPO / folder).glob("*.py"))
                    if module.name != "__init__.py" and f"`{module.name}`" not in text]
    assert missing == []


def test_the_forwarded_response_headers_are_the_ones_the_gateway_forwards() -> None:
    from gateway.rpc_failure import FORWARDED_RESPONSE_METADATA

    text = (REPO / "docs/gateway.md").read_text()
    section = text.split("Response metadata (initial and trailing, merged) → HTTP headers", 1)[1].split("\n\n", 1)[0]
    documented = dict(re.findall(r"`([a-z-]+)`\s+→\s+`([A-Za-z-]+)`", section))
    assert documented == dict(FORWARDED_RESPONSE_METADATA)


def test_the_readme_names_every_idempotent_route() -> None:
    """The README's Idempotency bullet lists the routes that honour an Idempotency-Key: exactly the rpcs the protos
    mark idempotent (rotate-secret was missing, though the rotation paragraph said it was idempotent)."""
    from jobservice.routes import idempotent_methods

    readme = (REPO / "README.md").read_text()
    bullet = readme.split("- **Idempotency.**", 1)[1].split("\n- **", 1)[0]
    named = {path.replace("…", "/v1/webhooks/{id}") for path in re.findall(r"`(?:POST )?(…?/[^`\s]*)`", bullet)}
    service = phonos_pb2.DESCRIPTOR.services_by_name["PhonosService"]
    routes = {re.sub(r"\{[^}]*\}", "{id}", rule.template.text): rule.method.name
              for rule in rules_for_service(service) if rule.http_method == "POST"}
    assert {routes.get(re.sub(r"\{[^}]*\}", "{id}", path), path) for path in named} == set(idempotent_methods())


def test_read_only_keys_may_call_exactly_the_get_routes() -> None:
    """README, Read-only keys: "the rpcs the protos mark read_only (all GET routes ...)"."""
    from jobservice.routes import read_only_methods

    service = phonos_pb2.DESCRIPTOR.services_by_name["PhonosService"]
    assert {rule.method.name for rule in rules_for_service(service) if rule.http_method == "GET"} == \
        set(read_only_methods())


def test_the_alert_table_is_the_rules_file() -> None:
    """docs/observability.md's alert table: every rule of deploy/alerts.yml, each with its severity."""
    import yaml

    rules = {rule["alert"]: rule["labels"]["severity"]
             for group in yaml.safe_load((REPO / "deploy/alerts.yml").read_text())["groups"]
             for rule in group["rules"] if "alert" in rule}
    table = dict(re.findall(r"^\| `(Phonos\w+)` \| (\w+) \|", (REPO / "docs/observability.md").read_text(), re.M))
    assert table == rules


def test_the_sdk_defaults_the_docs_state_are_the_code_defaults() -> None:
    from phonos_client import rest, retry
    from phonos_client.client import DEFAULT_TIMEOUT_S

    text = " ".join((REPO / "docs/clients.md").read_text().split())
    said = {
        f"Timeouts on by default ({DEFAULT_TIMEOUT_S:g} s; watch streams allow {rest.WATCH_READ_TIMEOUT_S:g} s of silence",
        f"at most `max_rate_limit_wait` seconds (default {retry.DEFAULT_RATE_LIMIT_WAIT_S:g}:",
        f"at most `max_retry_wait` seconds (default {retry.DEFAULT_RETRY_WAIT_S:g};",
        f"at most `max_retries` (default {retry.DEFAULT_MAX_RETRIES})",
    }
    assert [phrase for phrase in said if phrase not in text] == []


def test_the_example_clients_ship_with_the_constants_the_readme_says() -> None:
    readme = (REPO / "README.md").read_text()
    for example in ("examples/python_client.py", "examples/node_client.js"):
        source = (REPO / example).read_text()
        for constant in re.findall(r'they ship as `"([^"]+)"` and `"([^"]+)"`', readme)[0]:
            assert constant in source, (example, constant)


def test_the_auth_routes_answer_a_cookie_with_an_api_key_as_docs_gateway_says() -> None:
    """docs/gateway.md, GET /auth/status: a cookie with an Authorization header is a 400 on the routes that read the
    session; a key without a cookie is no session (it said "an Authorization header: 400", which it never was).
    Neither case reaches the job service, so the routes run here with no invoker behind them."""
    import asyncio

    from aiohttp.test_utils import TestClient, TestServer

    from gateway.app import create_app
    from gateway.dashboard.cookies import COOKIE_NAME
    from gateway.dashboard.routes import DashboardOptions

    row = next(line for line in (REPO / "docs/gateway.md").read_text().splitlines()
               if line.startswith("| `GET /auth/status`"))
    assert "A session cookie sent with an `Authorization` header: 400" in row
    assert "an `Authorization` header without a cookie is no session (`{\"signed_in\": false}`)" in row

    async def walk() -> None:
        app = create_app(None, dashboard_options=DashboardOptions())  # type: ignore[arg-type]
        async with TestClient(TestServer(app)) as client:
            key = {"Authorization": "Bearer pk_x"}
            cookie = {**key, "Cookie": f"{COOKIE_NAME}={'a' * 43}"}
            for path in ("/auth/status", "/auth/session", "/auth/sessions"):
                answer = await client.get(path, headers=cookie)
                assert answer.status == 400, path
                assert "not an API key" in (await answer.json())["message"]
            answer = await client.get("/auth/status", headers=key)
            assert (answer.status, await answer.json()) == (200, {"signed_in": False})

    asyncio.run(walk())


def test_the_exit_codes_docs_clients_lists_are_the_ones_phonos_help_lists() -> None:
    text = " ".join((REPO / "docs/clients.md").read_text().split())
    said = text.split("Exit codes: 0 ok", 1)[1].split("`phonos --help` ends with them", 1)[0]
    documented = {0, *map(int, re.findall(r"(?:^|[,;] |\()(\d+):? [a-z]", said))}
    helped = set(map(int, re.findall(r"(?:: |; )(\d+) ", client_cli.EXIT_CODES_HELP)))
    assert documented == helped


def test_keys_list_json_prints_every_field_of_the_apis_key(operator_env: pytest.MonkeyPatch, tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    """README: `keys list --json` prints the keys as GET /v1/keys does, the same fields. `revoked_at` was missing
    (a revoked key said `"revoked": true` and not when); an unset one is null, as the README says."""
    import json

    var = ["--data-dir", str(tmp_path / "var")]
    assert operator_cli.main(["keys", "create", "--username", "ada", *var]) == 0
    assert operator_cli.main(["keys", "add", "--username", "ada", "--name", "spare", *var]) == 0
    capsys.readouterr()
    assert operator_cli.main(["keys", "list", "--username", "ada", "--json", *var]) == 0
    keys = json.loads(capsys.readouterr().out)["keys"]
    spare = next(key for key in keys if key["name"] == "spare")
    assert operator_cli.main(["keys", "revoke", spare["key_id"], "--json", *var]) == 0
    revoked = json.loads(capsys.readouterr().out)
    fields = {field.name for field in phonos_pb2.ApiKey.DESCRIPTOR.fields}
    assert [set(key) for key in keys] == [fields, fields] and set(revoked) == fields
    assert revoked["revoked"] is True and revoked["revoked_at"].endswith("Z") and spare["revoked_at"] is None


def test_the_docs_say_a_test_events_delivery_header_is_its_own() -> None:
    """A test event's X-Phonos-Delivery is `test-<hex>`, not the id its delivery-log entry gets: the README said the
    log's `delivery_id` was "the X-Phonos-Delivery the receiver saw", true of job events only."""
    from jobservice.webhooks import delivery_id_of_a_test

    assert re.fullmatch(r"test-[0-9a-f]+", delivery_id_of_a_test())
    readme = " ".join((REPO / "README.md").read_text().split())
    assert "a test event's header was its own `test-<hex>`, not its log entry's id" in readme
    assert "`test-<hex>` for a test" in (REPO / "docs/webhooks.md").read_text()


def test_the_paged_lists_docs_gateway_names_are_every_paged_rpc() -> None:
    """docs/gateway.md, Paged lists: the routes named are exactly those whose request takes limit, offset and
    starting_after (a new paged list must be said there, with its cursor)."""
    text = (REPO / "docs/gateway.md").read_text()
    sentence = text.split("## Paged lists: offset or cursor", 1)[1].split(" are newest first", 1)[0]
    named = set(re.findall(r"GET (/v1/[\w/{}]+)", sentence))
    service = phonos_pb2.DESCRIPTOR.services_by_name["PhonosService"]
    paged = {rule.template.text for rule in rules_for_service(service)
             if {"limit", "offset", "starting_after"} <= {field.name for field in rule.method.input_type.fields}}
    assert named == paged


def test_the_readme_folder_table_names_every_operator_command() -> None:
    """README's folder table said `keys create/list/revoke` and `accounts list` after `keys add/update`, `accounts
    activity` and `status` had been added: each verb with its commands, as `verb a/b/c`."""
    row = next(line for line in (REPO / "README.md").read_text().splitlines() if line.startswith("| `launcher/` |"))
    parser = operator_cli.build_parser()
    for verb in client_cli.OPERATOR_VERBS:
        commands = list(sub_parsers(sub_parsers(parser)[verb]))
        assert f"`{' '.join([verb, '/'.join(commands)]) if commands else verb}`" in row, verb


def settings_rows(text: str) -> dict[str, str]:
    """{variable: default} of the `| PHONOS_A / PHONOS_B | a / b | ... |` rows of a Markdown settings table."""
    table: dict[str, str] = {}
    for row in text.splitlines():
        if row.startswith("| `PHONOS_"):
            names_cell, default_cell = (cell.strip() for cell in row.strip("|").split("|")[:2])
            names = re.findall(r"`(PHONOS_\w+)`", names_cell)
            defaults = [d.strip().strip("`") for d in default_cell.split(" / ")]
            table.update(zip(names, defaults if len(defaults) == len(names) else [default_cell] * len(names),
                             strict=True))
    return table


def test_the_settings_docs_observability_repeats_say_what_the_readme_table_says() -> None:
    """docs/observability.md repeats the metrics and tracing settings: the same defaults as the README's table
    (which test_operator_settings holds to the code), so the two cannot contradict each other."""
    readme = (REPO / "README.md").read_text().split("\n## Settings\n", 1)[1].split("\n## ", 1)[0]
    documented, repeated = settings_rows(readme), settings_rows((REPO / "docs/observability.md").read_text())
    assert len(repeated) >= 8
    assert {name: documented.get(name) for name in repeated} == repeated
