"""Build the image evaluation corpus: the analysis corpus's documents as uploads (photos, scans, PDFs) + labels.

    python bench/make_image_corpus.py [--out var/image-corpus] [--seed 7] [--per-type 6] [--jobs 2]

Each synthetic document (``bench/corpus_content.py``) is rendered like ``make_analysis_corpus.py`` does
(random font, layout, a light phone-scan degradation) and then written the way a patient uploads it, one
variant per document in turn: turned 90° or 180°, noisy, blurred, in perspective, under uneven light, JPEG
quality 60, HEIC, WebP, multi-page TIFF, a scanned PDF (no text layer) and a PDF with a text layer. Beside it,
the same degraded upright pages run through raw Tesseract give ``<id>.hocr``: the same document dropped as
Tesseract hOCR, the baseline ``bench/analysis_eval.py --baseline`` scores. Images are not committed (size);
the build is reproducible (same seed, same files).
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
from pathlib import Path

from PIL import Image, ImageChops, ImageFilter

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from corpus_content import BUILDERS
from make_analysis_corpus import A4, FONTS, build_corpus, degrade, font_path, render_page, run_tesseract

from tests.ocr_fixtures import pdf as text_pdf

ROOT = Path(__file__).resolve().parent.parent
VARIANTS = [
    "rotated",
    "upside_down",
    "noisy",
    "blurred",
    "perspective",
    "uneven_light",
    "jpeg60",
    "heic",
    "webp",
    "tiff",
    "pdf_scan",
    "pdf_text",
]
# the font families installed here (make_analysis_corpus.py lists Debian's dejavu, liberation, freefont, noto)
INSTALLED = sorted(f for f, paths in FONTS.items() if all(os.path.exists(font_path(p)) for p in paths))
EXT = {"heic": ".heic", "webp": ".webp", "tiff": ".tif", "pdf_scan": ".pdf", "pdf_text": ".pdf"}


def _perspective(img: Image.Image, rng: random.Random) -> Image.Image:
    w, h = img.size
    d = rng.uniform(0.03, 0.06)
    # the top edge narrower than the bottom: a page photographed from below and in front
    coeffs = _coefficients(
        [(0, 0), (w, 0), (w, h), (0, h)], [(w * d, h * d / 2), (w * (1 - d), 0), (w, h), (0, h * (1 - d / 3))]
    )
    return img.transform((w, h), Image.Transform.PERSPECTIVE, coeffs, Image.Resampling.BICUBIC, fillcolor=200)


def _coefficients(dst: list[tuple[float, float]], src: list[tuple[float, float]]) -> list[float]:
    rows, rhs = [], []
    for (x, y), (u, v) in zip(dst, src):
        rows.append([x, y, 1, 0, 0, 0, -u * x, -u * y])
        rows.append([0, 0, 0, x, y, 1, -v * x, -v * y])
        rhs += [u, v]
    return _solve(rows, rhs)


def _solve(a: list[list[float]], b: list[float]) -> list[float]:
    n = len(b)
    m = [row[:] + [b[i]] for i, row in enumerate(a)]
    for c in range(n):
        p = max(range(c, n), key=lambda r: abs(m[r][c]))
        m[c], m[p] = m[p], m[c]
        for r in range(n):
            if r != c:
                f = m[r][c] / m[c][c]
                m[r] = [x - f * y for x, y in zip(m[r], m[c])]
    return [m[i][n] / m[i][i] for i in range(n)]


def _uneven(img: Image.Image, rng: random.Random) -> Image.Image:
    light = Image.linear_gradient("L").resize(img.size).rotate(rng.choice([0, 90, 180, 270]))
    light = light.point(lambda v: int(150 + v * 105 / 255))  # from 60 % to full light across the page
    return ImageChops.multiply(img, light)


def photo(img: Image.Image, variant: str, rng: random.Random) -> Image.Image:
    if variant == "rotated":
        return img.rotate(rng.choice([90, 270]), expand=True)
    if variant == "upside_down":
        return img.rotate(180)
    if variant == "noisy":
        return Image.blend(img, Image.effect_noise(img.size, 60), 0.18)
    if variant == "blurred":
        return img.filter(ImageFilter.GaussianBlur(1.1))
    if variant == "perspective":
        return _perspective(img, rng)
    if variant == "uneven_light":
        return _uneven(img, rng)
    return img


def _save(images: list[Image.Image], variant: str, path: Path, lines: list[list[str]]) -> None:
    if variant == "pdf_text":
        path.write_bytes(text_pdf([("text", page) for page in lines]))
    elif variant == "pdf_scan":
        images[0].save(path, "PDF", resolution=200, save_all=True, append_images=images[1:])
    elif variant == "tiff":
        images[0].save(path, "TIFF", save_all=True, append_images=images[1:], compression="tiff_lzw", dpi=(200, 200))
    elif variant == "heic":
        from pillow_heif import register_heif_opener

        register_heif_opener()
        images[0].save(path, "HEIF", quality=85)
    elif variant == "webp":
        images[0].save(path, "WEBP", quality=85)
    else:
        images[0].save(path, "JPEG", quality=60 if variant == "jpeg60" else 85)


def _plain(lines: list) -> list[str]:
    """A page's text for a PDF text layer (Helvetica, WinAnsi: what Latin-1 cannot say is replaced)."""
    out = []
    for line in lines:
        text = "   ".join(seg[1] for seg in line)
        out.append(text.encode("latin-1", "replace").decode("latin-1"))
    return out


def build_one(job: dict, out: Path) -> dict:
    rng = random.Random(job["seed"])
    pages, truth = BUILDERS[job["type"]](rng)
    family, size = rng.choice(INSTALLED), rng.randint(26, 38)
    canvas = A4 if job["type"] != "carte_tiers_payant" or rng.random() < 0.5 else (1654, 1150)
    variant = job["variant"]
    single = variant not in ("tiff", "pdf_scan", "pdf_text")
    upright = [degrade(render_page(lines, family, size, canvas, rng), rng, 0.4)[0] for lines in pages]
    name = job["id"] + EXT.get(variant, ".jpg")
    uploads = [photo(im, variant, rng) for im in upright]
    if single and len(uploads) > 1:  # one picture of a longer document: its pages stitched one under the other
        uploads = [_stack(uploads)]
    _save(uploads, variant, out / name, [_plain(p) for p in pages])
    with tempfile.TemporaryDirectory() as tmp:
        paths = []
        for i, im in enumerate(upright):
            paths.append(Path(tmp) / f"p{i}.png")
            im.save(paths[-1], dpi=(200, 200))
        run_tesseract(paths, Path(tmp) / "ocr", ("hocr",))
        (out / (job["id"] + ".hocr")).write_bytes((Path(tmp) / "ocr.hocr").read_bytes())
    return truth | {"file": name, "hocr_file": job["id"] + ".hocr", "format": variant, "pages": len(pages)}


def _stack(images: list[Image.Image]) -> Image.Image:
    width = max(im.width for im in images)
    out = Image.new("L", (width, sum(im.height for im in images)), 255)
    y = 0
    for im in images:
        out.paste(im.convert("L"), (0, y))
        y += im.height
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(ROOT / "var" / "image-corpus"))
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--per-type", type=int, default=6)
    ap.add_argument("--jobs", type=int, default=2)
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    master = random.Random(args.seed)
    jobs = []
    for doc_type in BUILDERS:
        for i in range(args.per_type):
            variant = VARIANTS[(len(jobs)) % len(VARIANTS)]
            jobs.append(
                {
                    "id": f"{doc_type[:4]}-{i + 1:03d}",
                    "type": doc_type,
                    "variant": variant,
                    "seed": master.randrange(2**32),
                }
            )
    build_corpus(jobs, out, build_one, args.jobs)


if __name__ == "__main__":
    main()
