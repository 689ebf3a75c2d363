"""The timeline page shows what matters, checked in a real headless browser.

A non-linearizable partition of 300 ops over 10 ms whose op that cannot be placed (``!!``)
lasts one microsecond at the end: on a whole-run scale it would be a sliver at the edge.
The page is rendered by headless Chromium (Debian's ``chromium``; ``make test`` installs
it), and the screenshot must show the ``!!`` bar, in its own colour, at a size a person
can see and hover, in the zoomed view at the top of the page.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from PIL import Image

from fuzzharness.oracles.linearizability import CheckResult, Model, Operation, PartitionResult
from fuzzharness.oracles.timeline import _COLOURS, render_html, zoom_window

STUCK_RGB = tuple(int(_COLOURS["!!"][i : i + 2], 16) for i in (1, 3, 5))


def long_partition() -> PartitionResult:
    ops = []
    for k in range(299):
        start = k * 33_000  # ns: 300 ops spread over ~10 ms, four threads
        ops.append(Operation(client=k % 4, input=("write", k), output=("ok",), call=start, ret=start + 20_000, id=k))
    end = ops[-1].ret
    ops.append(Operation(client=1, input=("read",), output=(7,), call=end + 500, ret=end + 1_500, id=299))
    return PartitionResult(key="r0", result=CheckResult.illegal, operations=ops, longest=list(range(299)), stuck=299,
                           states=frozenset({298}))  # fmt: skip


def chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    assert path, "headless Chromium is needed for this test: apt-get install chromium (make test installs it)"
    return path


def screenshot(page: Path, png: Path) -> Image.Image:
    subprocess.run([chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                    f"--screenshot={png}", "--window-size=1440,900", page.as_uri()],
                   check=True, capture_output=True, timeout=120)  # fmt: skip
    return Image.open(png).convert("RGB")


def stuck_box(image: Image.Image, top: int = 0, bottom: int | None = None) -> tuple[int, int, int, int] | None:
    """Bounding box of the pixels of the ``!!`` colour (exact match) between two rows."""
    xs, ys = [], []
    pixels = image.load()
    for y in range(top, image.height if bottom is None else bottom):
        for x in range(image.width):
            if pixels[x, y] == STUCK_RGB:
                xs.append(x)
                ys.append(y)
    return (min(xs), min(ys), max(xs), max(ys)) if xs else None


def test_the_op_that_cannot_be_placed_is_visible_and_readable_in_a_browser(tmp_path):
    part = long_partition()
    page = tmp_path / "timeline.html"
    page.write_text(render_html(part, Model(init=lambda k: 0, step=lambda s, i, o: []), "a read that cannot be placed"))
    image = screenshot(page, tmp_path / "shot.png")
    box = stuck_box(image, bottom=400)  # the zoomed view comes first, near the top of the page
    assert box is not None, "the !! bar is not in the zoomed view at the top of the page"
    x0, y0, x1, y1 = box
    assert x1 - x0 + 1 >= 12 and y1 - y0 + 1 >= 18, f"the !! bar is {x1 - x0 + 1}x{y1 - y0 + 1} px"
    assert x1 < image.width - 5, "the !! bar runs off the page"
    assert stuck_box(image, top=400) is not None, "the whole run below shows it too"


def test_the_zoom_window_holds_the_stuck_op_and_the_end_of_the_prefix():
    part = long_partition()
    from fuzzharness.oracles.timeline import _rows

    rows = list(_rows(part, Model(init=lambda k: 0, step=lambda s, i, o: []), str))
    lo, hi = zoom_window(part, rows)
    stuck = next(r for r in rows if r[0] == 299)
    assert lo <= stuck[2] and stuck[3] <= hi
    assert hi - lo < 0.1 * (rows[-1][3] - rows[0][2])  # a window, not the whole run
