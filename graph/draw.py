"""Drawings of the conductor graph: LangGraph's Mermaid and ASCII, and a PNG rendered locally.

LangGraph's own ``draw_mermaid_png`` calls a web service, so the PNG here is laid out with
grandalf (the layout engine LangGraph's ASCII drawing uses) and painted with Pillow,
offline. Running nodes and breakpoints can be highlighted in the Mermaid and PNG drawings.
"""

from __future__ import annotations

import functools
import io
from collections.abc import Callable, Iterable
from typing import Any

from podium.errors import ConfigError

FORMATS = ("mermaid", "ascii", "png")
"""What ``podium debug graph --format`` draws."""
RUNNING = "#ffb347"
"""Fill of a node that is running now."""
BREAKPOINT = "#c92a2a"
"""Outline of a node with a breakpoint."""
FILL = "#f2f0ff"
"""Fill of other nodes (LangGraph's Mermaid default)."""


def mermaid(graph: Any, *, running: Iterable[str] = (), breakpoints: Iterable[str] = ()) -> str:
    """LangGraph's Mermaid drawing, plus classes marking running nodes and breakpoints."""
    text = graph.get_graph().draw_mermaid()
    extra = []
    if running:
        extra += [f"\tclassDef running fill:{RUNNING},stroke:#d9480f,stroke-width:3px",
                  *(f"\tclass {n} running" for n in running)]
    if breakpoints:
        extra += [f"\tclassDef breakpoint stroke:{BREAKPOINT},stroke-width:3px,stroke-dasharray:5 5",
                  *(f"\tclass {n} breakpoint" for n in breakpoints if n not in set(running))]
    return text + "\n".join(extra) + ("\n" if extra else "")


def ascii_art(graph: Any) -> str:
    """LangGraph's ASCII drawing (``*`` plain edges, ``.`` conditional ones), self-loops listed below it.

    grandalf's edge routing fails on an edge from a node to itself, so those are drawn as text.
    """
    _need_grandalf()
    from langchain_core.runnables.graph import Graph

    drawable = graph.get_graph()
    loops = [e for e in drawable.edges if e.source == e.target]
    art = Graph(nodes=drawable.nodes, edges=[e for e in drawable.edges if e.source != e.target]).draw_ascii()
    return art + "".join(f"\n  {e.source} -> {e.source} ({'conditional ' if e.conditional else ''}loop)"
                         for e in loops)


def _need_grandalf() -> None:
    try:
        import grandalf  # noqa: F401
    except ImportError as exc:
        raise ConfigError("drawing the graph as ascii or png needs the grandalf package",
                          setting="format", hint="pip install grandalf, or use --format mermaid") from exc


def layout(graph: Any) -> tuple[dict[str, tuple[float, float, float, float]], list[tuple[str, str, bool]]]:
    """Node boxes ``{name: (x0, y0, x1, y1)}`` in pixels and edges ``(source, target, conditional)``.

    grandalf does not place a graph with several cycles the same way twice, so a graph's layout is
    computed once per process: the Debug tab's drawing does not move between refreshes.
    """
    _need_grandalf()
    drawable = graph.get_graph()
    edges = tuple((e.source, e.target, bool(e.conditional)) for e in drawable.edges)
    return dict(_layout(tuple(drawable.nodes), edges)), list(edges)


@functools.lru_cache(maxsize=8)
def _layout(nodes: tuple[str, ...], edges: tuple[tuple[str, str, bool], ...]
            ) -> dict[str, tuple[float, float, float, float]]:
    from grandalf.graphs import Edge, Graph, Vertex
    from grandalf.layouts import SugiyamaLayout

    vertices = {name: Vertex(name) for name in nodes}
    for name, vertex in vertices.items():
        vertex.view = _Box(width=max(90, 11 * len(name) + 30), height=40)
    g = Graph(list(vertices.values()), [Edge(vertices[s], vertices[t]) for s, t, _ in edges])
    x_shift = 0.0
    boxes: dict[str, tuple[float, float, float, float]] = {}
    for component in g.C:  # one layout per connected component, side by side
        sug = SugiyamaLayout(component)
        sug.init_all(roots=[v for v in component.sV if not v.e_in()], optimize=True)
        sug.xspace, sug.yspace = 40, 50
        sug.draw()
        for vertex in component.sV:
            (cx, cy), w, h = vertex.view.xy, vertex.view.w, vertex.view.h
            boxes[vertex.data] = (cx - w / 2 + x_shift, cy - h / 2, cx + w / 2 + x_shift, cy + h / 2)
        x_shift = max(b[2] for b in boxes.values()) + 60
    min_x, min_y = min(b[0] for b in boxes.values()), min(b[1] for b in boxes.values())
    pad = 20
    boxes = {n: (x0 - min_x + pad, y0 - min_y + pad, x1 - min_x + pad, y1 - min_y + pad)
             for n, (x0, y0, x1, y1) in boxes.items()}
    return boxes


class _Box:
    """What grandalf needs to know of a node: its size (and where it puts it)."""

    def __init__(self, width: float, height: float) -> None:
        self.w, self.h = width, height
        self.xy = (0.0, 0.0)


def png(graph: Any, *, running: Iterable[str] = (), breakpoints: Iterable[str] = ()) -> bytes:
    """The graph as PNG bytes, drawn locally: orange fill = running, red dashed outline = breakpoint."""
    from PIL import Image, ImageDraw, ImageFont

    boxes, edges = layout(graph)
    running, breakpoints = set(running), set(breakpoints)
    width = int(max(b[2] for b in boxes.values()) + 20)
    height = int(max(b[3] for b in boxes.values()) + 20)
    image = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=15)
    for source, target, conditional in edges:
        if source == target:
            _loop(draw, boxes[source])
        else:
            _arrow(draw, boxes[source], boxes[target], dashed=conditional)
    for name, (x0, y0, x1, y1) in boxes.items():
        terminal = name in ("__start__", "__end__")
        fill = RUNNING if name in running else ("white" if terminal else FILL)
        outline, line_width = (BREAKPOINT, 3) if name in breakpoints else ("#6d5fd5", 1)
        draw.rounded_rectangle((x0, y0, x1, y1), radius=18 if terminal else 6, fill=fill, outline=outline,
                               width=line_width)
        draw.text(((x0 + x1) / 2, (y0 + y1) / 2), name, fill="black", font=font, anchor="mm")
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def _arrow(draw: Any, a: tuple[float, ...], b: tuple[float, ...], *, dashed: bool) -> None:
    """A line from box ``a`` to box ``b`` (bottom to top, or top to bottom for back edges) with a head."""
    ax, bx = (a[0] + a[2]) / 2, (b[0] + b[2]) / 2
    if b[1] >= a[3]:
        start, end = (ax, a[3]), (bx, b[1])
    else:  # a back edge (a loop): offset it so it does not hide the forward edge
        start, end = (ax + 12, a[1]), (bx + 12, b[3])
    color = "#555555"
    if dashed:
        steps = max(int(((end[0] - start[0]) ** 2 + (end[1] - start[1]) ** 2) ** 0.5 // 6), 1)
        for i in range(0, steps, 2):
            p = [start[k] + (end[k] - start[k]) * i / steps for k in (0, 1)]
            q = [start[k] + (end[k] - start[k]) * min(i + 1, steps) / steps for k in (0, 1)]
            draw.line((*p, *q), fill=color, width=2)
    else:
        draw.line((*start, *end), fill=color, width=2)
    dx, dy = end[0] - start[0], end[1] - start[1]
    norm = max((dx * dx + dy * dy) ** 0.5, 1e-6)
    ux, uy = dx / norm, dy / norm
    left = (end[0] - 10 * ux + 5 * uy, end[1] - 10 * uy - 5 * ux)
    right = (end[0] - 10 * ux - 5 * uy, end[1] - 10 * uy + 5 * ux)
    draw.polygon([end, left, right], fill=color)


def _loop(draw: Any, box: tuple[float, ...]) -> None:
    """An edge from a node to itself: an arc on the box's right side, arrow pointing back in."""
    x1, y0, y1 = box[2], box[1], box[3]
    draw.arc((x1 - 14, y0 + 4, x1 + 16, y1 - 4), start=270, end=90, fill="#555555", width=2)
    tip = (x1 + 1, y1 - 5)
    draw.polygon([tip, (tip[0] + 9, tip[1] - 5), (tip[0] + 9, tip[1] + 5)], fill="#555555")


def draw(graph: Any, fmt: str) -> str | bytes:
    """The graph in one of :data:`FORMATS`; an unknown format is a one-line error listing them."""
    if fmt not in FORMATS:
        raise ConfigError(f"unknown graph format {fmt!r}", setting="format",
                          hint=f"choose from: {', '.join(FORMATS)}")
    renderers: dict[str, Callable[[Any], str | bytes]] = {"mermaid": mermaid, "ascii": ascii_art, "png": png}
    return renderers[fmt](graph)
