"""The job page's Provenance lists a per-model map (AlphaFold2's `msa_stacks`, `recycles`, `timings.models`) in the
models' own order. The metadata reaches the page through a protobuf Struct, whose map keeps no order: the card
listed MSA stacks as model 3, 4, 2, 5, 1. gateway/static/js/provenance.js run by node over a minimal DOM (the
elements, attributes and text it builds), as the page runs it."""

from __future__ import annotations

import json
import subprocess

import pytest

from tests.support import REPO

pytestmark = pytest.mark.unit

PROVENANCE_JS = REPO / "gateway" / "static" / "js" / "provenance.js"

# Just enough DOM for dom.js's h() and provenance(): elements with attributes and children, text nodes.
FAKE_DOM = """
class Node {
  constructor() { this.childNodes = []; }
  append(...children) { for (const c of children) this.childNodes.push(typeof c === 'string' ? new Text(c) : c); }
  get textContent() { return this.childNodes.map((c) => c.textContent).join(''); }
}
class Text extends Node { constructor(data) { super(); this.data = data; } get textContent() { return this.data; } }
class Element extends Node {
  constructor(tag) { super(); this.tagName = tag.toUpperCase(); this.attributes = {}; this.style = {}; this.dataset = {}; }
  setAttribute(key, value) { this.attributes[key] = String(value); }
  hasAttribute(key) { return key in this.attributes; }
  addEventListener() {}
}
globalThis.Node = Node;
globalThis.document = Object.assign(new Element('#document'), {createElement: (tag) => new Element(tag),
  createElementNS: (_, tag) => new Element(tag), createTextNode: (text) => new Text(text), body: new Element('body')});
globalThis.window = Object.assign(new Element('#window'), {matchMedia: () => ({matches: false, addEventListener() {}})});
globalThis.location = {pathname: '/jobs/x', origin: 'http://localhost'};
function* walk(node) { yield node; for (const child of node.childNodes || []) yield* walk(child); }
"""


def rendered(metadata: dict) -> dict:
    """The Provenance card of a job with `metadata`: its group headings and its rows' names, in page order."""
    ran = subprocess.run(["node", "--input-type=module", "-e", FAKE_DOM + f"""
        const {{provenance}} = await import('{PROVENANCE_JS.as_uri()}');
        const card = provenance({{job_id: 'x', created_at: '2025-01-01T00:00:00Z', updated_at: '2025-01-01T00:01:00Z',
                                  metadata: {json.dumps(metadata)}}});
        const nodes = [...walk(card)];
        const text = (tag) => nodes.filter((n) => n.tagName === tag).map((n) => n.textContent);
        console.log(JSON.stringify({{headings: [...text('H3'), ...text('H4')], rows: text('DT'),
                                     deep: nodes.filter((n) => n.attributes && n.attributes.class === 'kv-deep')
                                       .map((n) => n.textContent)}}));"""],
        capture_output=True, text=True, check=True, timeout=30)
    return json.loads(ran.stdout)


def test_per_model_maps_are_listed_model_1_to_model_5_whatever_order_they_arrive_in() -> None:
    arrived = ["model_3", "model_4", "model_2", "model_5", "model_1"]  # as the tester's job page listed them
    page = rendered({"msa_stacks": {m: {"clusters": 1, "extra": 0} for m in arrived},
                     "recycles": {m: 3 for m in arrived},
                     "ranking": arrived,
                     "timings": {"models": {m: 1.5 for m in arrived}, "total": 9.0}})
    in_order = [f"model {k}" for k in range(1, 6)]
    assert [h for h in page["headings"] if h.startswith("model ")] == in_order  # MSA stacks: a group per model
    assert [r for r in page["rows"] if r.startswith("model ")] == in_order  # recycles: a row per model
    assert [r for r in page["rows"] if r.startswith("models · ")] == [f"models · {m}" for m in in_order]
    assert "ranking" in page["rows"]  # a list: the ranking's own order, shown as one value


def test_multimer_predictions_are_in_number_order_not_text_order() -> None:
    names = [f"model_{k}_multimer_v3_pred_{p}" for k in (1, 2) for p in (0, 1, 2, 10)]
    page = rendered({"recycles": {name: 1 for name in reversed(names)}})
    assert [r for r in page["rows"] if r.startswith("model")] == [name.replace("_", " ") for name in names]


def test_other_maps_keep_their_own_order() -> None:
    page = rendered({"timings": {"msa": 1.0, "features": 0.1, "models": {"model_1": 2.0}, "total": 3.5}})
    assert page["rows"][-4:] == ["MSA", "features", "models · model 1", "total in the model"]
