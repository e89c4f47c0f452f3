"""Build the analysis evaluation corpus: synthetic documents → images → real Tesseract → stored OCR + labels.

    python bench/make_analysis_corpus.py [--out tests/corpus/analysis] [--seed 4] [--jobs 2]

Needs Pillow, Debian ``tesseract-ocr`` + ``tesseract-ocr-fra`` and the fonts-dejavu/liberation/freefont/noto
packages. Each document is rendered with a random font family and layout, then degraded like a phone scan
(rotation, blur, lower resolution, noise, JPEG) and OCR'd by Tesseract. Each document is stored in ONE of the
five ingestion formats (canonical JSON ``mediflux.ocr/1``, hOCR, TSV, ALTO, plain text), rotating per type so
every type is seen in every format; ``labels.json`` holds the ground truth. Images are not kept (size). The
run is reproducible: same seed, same images; Tesseract is deterministic for a given version.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import subprocess
import sys
import tempfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from PIL import Image, ImageDraw, ImageFilter, ImageFont

sys.path.insert(0, str(Path(__file__).resolve().parent))
from corpus_content import BUILDERS  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
FONT_DIRS = {
    "dejavu": "/usr/share/fonts/truetype/dejavu",
    "liberation": "/usr/share/fonts/truetype/liberation",
    "free": "/usr/share/fonts/truetype/freefont",
    "noto": "/usr/share/fonts/truetype/noto",
}
# family → (regular, bold, italic)
FONTS = {
    "DejaVuSans": ("dejavu/DejaVuSans.ttf", "dejavu/DejaVuSans-Bold.ttf", "dejavu/DejaVuSans-Oblique.ttf"),
    "DejaVuSerif": ("dejavu/DejaVuSerif.ttf", "dejavu/DejaVuSerif-Bold.ttf", "dejavu/DejaVuSerif-Italic.ttf"),
    "DejaVuSansCondensed": (
        "dejavu/DejaVuSansCondensed.ttf",
        "dejavu/DejaVuSansCondensed-Bold.ttf",
        "dejavu/DejaVuSansCondensed-Oblique.ttf",
    ),
    "DejaVuSansMono": (
        "dejavu/DejaVuSansMono.ttf",
        "dejavu/DejaVuSansMono-Bold.ttf",
        "dejavu/DejaVuSansMono-Oblique.ttf",
    ),
    "LiberationSans": (
        "liberation/LiberationSans-Regular.ttf",
        "liberation/LiberationSans-Bold.ttf",
        "liberation/LiberationSans-Italic.ttf",
    ),
    "LiberationSerif": (
        "liberation/LiberationSerif-Regular.ttf",
        "liberation/LiberationSerif-Bold.ttf",
        "liberation/LiberationSerif-Italic.ttf",
    ),
    "LiberationSansNarrow": (
        "liberation/LiberationSansNarrow-Regular.ttf",
        "liberation/LiberationSansNarrow-Bold.ttf",
        "liberation/LiberationSansNarrow-Italic.ttf",
    ),
    "LiberationMono": (
        "liberation/LiberationMono-Regular.ttf",
        "liberation/LiberationMono-Bold.ttf",
        "liberation/LiberationMono-Italic.ttf",
    ),
    "FreeSans": ("free/FreeSans.ttf", "free/FreeSansBold.ttf", "free/FreeSansOblique.ttf"),
    "FreeSerif": ("free/FreeSerif.ttf", "free/FreeSerifBold.ttf", "free/FreeSerifItalic.ttf"),
    "FreeMono": ("free/FreeMono.ttf", "free/FreeMonoBold.ttf", "free/FreeMonoOblique.ttf"),
    "NotoSans": ("noto/NotoSans-Regular.ttf", "noto/NotoSans-Bold.ttf", "noto/NotoSans-Regular.ttf"),
    "NotoSerif": ("noto/NotoSerif-Regular.ttf", "noto/NotoSerif-Bold.ttf", "noto/NotoSerif-Regular.ttf"),
}
COUNTS = {"ordonnance": 30, "carte_tiers_payant": 24, "feuille_de_soins": 24, "compte_rendu": 18, "unknown": 6}
FORMATS = ["json", "hocr", "tsv", "alto", "txt"]
EXT = {"json": ".json", "hocr": ".hocr", "tsv": ".tsv", "alto": ".alto.xml", "txt": ".txt"}
A4 = (1654, 2339)  # 200 dpi


def font_path(rel: str) -> str:
    d, name = rel.split("/", 1)
    return os.path.join(FONT_DIRS[d], name)


def render_page(lines: list, family: str, size: int, canvas: tuple[int, int], rng: random.Random) -> Image.Image:
    reg, bold, ital = (ImageFont.truetype(font_path(p), size) for p in FONTS[family])
    small = ImageFont.truetype(font_path(FONTS[family][0]), max(18, int(size * 0.75)))
    styles = {"": reg, "b": bold, "i": ital, "s": small}
    line_h = int(size * rng.uniform(1.35, 1.7))
    height = max(canvas[1], int(line_h * (len(lines) + 6)))
    paper = rng.choice([255, 252, 246, 240])
    img = Image.new("L", (canvas[0], height), paper)
    draw = ImageDraw.Draw(img)
    y = int(line_h * rng.uniform(1.5, 3))
    x_jitter = rng.uniform(-0.02, 0.03)
    for line in lines:
        for x, text, style in line:
            draw.text((int((x + x_jitter) * canvas[0]), y), text, font=styles[style], fill=rng.randint(0, 40))
        y += line_h
    return img


def degrade(img: Image.Image, rng: random.Random, level: float) -> tuple[Image.Image, dict]:
    """Phone-scan look; ``level`` in [0, 1] scales every effect."""
    angle = rng.uniform(-2.5, 2.5) * level
    blur = rng.uniform(0, 1.4) * level
    scale = 1 - rng.uniform(0, 0.42) * level
    noise = rng.uniform(0, 28) * level
    quality = int(90 - rng.uniform(0, 65) * level)
    img = img.rotate(angle, resample=Image.BICUBIC, expand=True, fillcolor=235)
    if blur > 0.15:
        img = img.filter(ImageFilter.GaussianBlur(blur))
    if scale < 0.98:
        img = img.resize((int(img.width * scale), int(img.height * scale)), Image.BILINEAR)
    if noise > 2:
        img = Image.blend(img, Image.effect_noise(img.size, noise), 0.12 * level)
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=quality)
    out = Image.open(io.BytesIO(buf.getvalue())).convert("L")
    return out, {
        "angle": round(angle, 2),
        "blur": round(blur, 2),
        "scale": round(scale, 2),
        "noise": round(noise, 1),
        "jpeg_quality": quality,
        "dpi": int(200 * scale),
    }


def run_tesseract(images: list[Path], base: Path, outputs: tuple[str, ...] = ("hocr", "tsv", "alto", "txt")) -> None:
    """Tesseract (French, one thread) over the page images, writing ``base`` + each output's suffix."""
    listing = base.with_suffix(".list")
    listing.write_text("\n".join(str(p) for p in images) + "\n")
    env = dict(os.environ, OMP_THREAD_LIMIT="1")
    subprocess.run(
        ["tesseract", str(listing), str(base), "-l", "fra", "--psm", "3", *outputs],
        check=True,
        capture_output=True,
        env=env,
    )


def canonical_json(base: Path, hint: str | None) -> dict:
    """The canonical ``mediflux.ocr/1`` document from Tesseract's TSV (words, confidences) and text output."""
    texts = base.with_suffix(".txt").read_text().split("\f")
    pages: dict[int, list[dict]] = {}
    for row in base.with_suffix(".tsv").read_text().splitlines()[1:]:
        cols = row.split("\t")
        if len(cols) == 12 and cols[0] == "5" and cols[11].strip():
            pages.setdefault(int(cols[1]), []).append(
                {
                    "text": cols[11],
                    "confidence": round(float(cols[10]) / 100, 3),
                    "bbox": [int(cols[6]), int(cols[7]), int(cols[8]), int(cols[9])],
                }
            )
    out_pages = []
    for number in sorted(pages):
        words = pages[number]
        conf = sum(w["confidence"] for w in words) / len(words) if words else 0.0
        text = texts[number - 1] if number - 1 < len(texts) else " ".join(w["text"] for w in words)
        out_pages.append({"number": number, "text": text, "confidence": round(conf, 3), "words": words})
    doc = {"format": "mediflux.ocr/1", "engine": "tesseract", "pages": out_pages}
    if hint:
        doc["document_type_hint"] = hint
    return doc


def build_one(job: dict, out: Path) -> dict:
    rng = random.Random(job["seed"])
    pages, truth = BUILDERS[job["type"]](rng)
    family = rng.choice(sorted(FONTS))
    size = rng.randint(26, 38)
    canvas = A4 if job["type"] != "carte_tiers_payant" or rng.random() < 0.5 else (1654, 1150)
    level = rng.choice([0.3, 0.6, 0.9, 1.0, 1.2])
    with tempfile.TemporaryDirectory() as tmp:
        paths, params = [], {}
        for i, lines in enumerate(pages):
            img, params = degrade(render_page(lines, family, size, canvas, rng), rng, level)
            p = Path(tmp) / f"p{i + 1}.png"
            img.save(p)
            paths.append(p)
        base = Path(tmp) / "ocr"
        run_tesseract(paths, base)
        fmt, name = job["format"], job["id"] + EXT[job["format"]]
        if fmt == "json":
            hint = None
            if rng.random() < 0.5:  # the app's upload hint: usually right, sometimes wrong
                hint = job["type"] if rng.random() < 0.7 else rng.choice(sorted(BUILDERS))
            (out / name).write_text(json.dumps(canonical_json(base, hint), ensure_ascii=False))
        else:
            src = base.with_suffix(".xml" if fmt == "alto" else "." + fmt)
            (out / name).write_bytes(src.read_bytes())
    truth.update(
        {
            "file": name,
            "format": fmt,
            "pages": len(pages),
            "render": {"font": family, "size": size, "level": level, **params},
        }
    )
    return truth


def build_corpus(jobs: list[dict], out: Path, build: Callable[[dict, Path], dict], workers: int) -> None:
    """Build every job on ``workers`` threads and write their truths to ``out/labels.json`` (keyed by job id)."""
    with ThreadPoolExecutor(workers) as pool:
        results = list(pool.map(lambda j: build(j, out), jobs))
    labels = {j["id"]: r for j, r in zip(jobs, results)}
    (out / "labels.json").write_text(json.dumps(labels, ensure_ascii=False, indent=1, sort_keys=True))
    print(f"{len(labels)} documents written to {out}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(ROOT / "tests" / "corpus" / "analysis"))
    ap.add_argument("--seed", type=int, default=4)
    ap.add_argument("--jobs", type=int, default=2)
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    master = random.Random(args.seed)
    jobs = []
    for doc_type, count in COUNTS.items():
        for i in range(count):
            jobs.append(
                {
                    "id": f"{doc_type[:4]}-{i + 1:03d}",
                    "type": doc_type,
                    "format": FORMATS[i % len(FORMATS)],
                    "seed": master.randrange(2**32),
                }
            )
    build_corpus(jobs, out, build_one, args.jobs)


if __name__ == "__main__":
    main()
