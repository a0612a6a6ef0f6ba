"""Images for `litefer analyze`: every image of a folder or glob (each page of a multi-page TIFF,
an error record per unreadable file or subfolder), decoded ahead by threads within a pixel
budget, analysed in batches, with unique annotated-file names.
"""
from __future__ import annotations

import json
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

# Decoded pixels held in one batch at most (a batch closes early rather than pass it): one image
# at io's default bound; sixteen 12 MP photos would otherwise sit in memory together (576 MB).
BATCH_PIXELS = 25_000_000


@dataclass(frozen=True)
class Item:
    """One record to write: path (the file), page (0-based TIFF page; None: a whole file),
    source (the name in the record: "PATH" or "PATH#page=N"), error (set: report it as is)."""

    path: Path
    page: int | None
    source: str
    error: str | None = None


def list_items(paths: list[Path], folder_errors: list[tuple[str, str]]) -> list[Item]:
    """An error item per unreadable folder, then one item per file, or per page of a multi-page
    TIFF (sources "PATH#page=N", N from 1)."""
    from ..io import page_count

    items = [Item(Path(folder), None, folder, msg) for folder, msg in folder_errors]
    for p in paths:
        pages = page_count(p)
        if pages == 1:
            items.append(Item(p, None, str(p)))
        else:
            items.extend(Item(p, i, f"{p}#page={i + 1}") for i in range(pages))
    return items


def annotated_names(items: list[Item], root: Path | None) -> dict[str, Path]:
    """source -> annotated file path relative to --out, unique within the run: the image's path
    below ``root`` (the folder analysed; None: the bare file name), with ".annotated.jpg" for
    its suffix ("a/photo.jpg" -> "a/photo.annotated.jpg"); when two inputs would share a name,
    the later keeps its suffix ("photo.png.annotated.jpg"), then a counter ("-2")."""
    names, taken = {}, set()
    for item in items:
        if item.error:
            continue
        rel = Path(item.path.name)
        if root is not None:
            try:
                rel = item.path.relative_to(root)
            except ValueError:
                pass
        page = "" if item.page is None else f".page{item.page + 1}"
        candidates = [rel.parent / f"{rel.stem}{page}.annotated.jpg",
                      rel.parent / f"{rel.name}{page}.annotated.jpg"]
        name, n = candidates[0], 1
        while name.as_posix().lower() in taken:
            name = candidates[1] if n == 1 else rel.parent / f"{rel.name}{page}-{n}.annotated.jpg"
            n += 1
        taken.add(name.as_posix().lower())
        names[item.source] = name
    return names


def _decode(item: Item):
    """A TimedImage, or the LiteferError that explains why there is none."""
    from ..errors import InvalidImageError, LiteferError
    from ..inputs import decode_file  # the decode time goes into the record

    try:
        if item.error:
            raise InvalidImageError(item.error)
        return decode_file(item.path, item.page)
    except LiteferError as exc:
        return exc


def decoded_batches(items: list[Item], batch_size: int, workers: int,
                    budget: int = BATCH_PIXELS):
    """Yield lists of (item, TimedImage | LiteferError) in input order: at most batch_size items
    and, past the first image, at most ``budget`` decoded pixels each; at most ``workers``
    decodes run ahead of the batch being analysed."""
    with ThreadPoolExecutor(max(1, workers)) as pool:
        queue, todo = deque(), iter(items)

        def submit():
            item = next(todo, None)
            if item is not None:
                queue.append((item, pool.submit(_decode, item)))

        for _ in range(max(1, workers)):
            submit()
        batch, pixels = [], 0
        while queue:
            item, future = queue.popleft()
            image = future.result()
            size = getattr(image, "image", None)
            if batch and (len(batch) == batch_size or pixels + _pixels(size) > budget):
                yield batch
                batch, pixels = [], 0
            batch.append((item, image))
            pixels += _pixels(size)
            submit()
        if batch:
            yield batch


def _pixels(image) -> int:
    return 0 if image is None else image.shape[0] * image.shape[1]


def analyze_images(rec, args, sink, items: list[Item], root: Path | None) -> int:
    """Write one record per item to ``sink`` (flushed after each batch); with --out, one
    annotated JPEG per decoded image under its unique name. Returns the number of failures."""
    from ..draw import draw_result, save_image
    from ..progress import Progress

    names = annotated_names(items, root) if args.out else {}
    failed = faces = 0
    with Progress(len(items), "analyze", args.progress) as bar:
        for batch in decoded_batches(items, args.batch_size, args.workers):
            results = rec.analyze_batch([img for _, img in batch],
                                        sources=[item.source for item, _ in batch])
            for (item, img), res in zip(batch, results):
                failed += res.error is not None
                faces += len(res.faces)
                sink.write(json.dumps(res.to_dict()) + "\n")
                if args.out and res.error is None:
                    save_image(Path(args.out) / names[item.source],
                               draw_result(img.image, res, scale=img.scale))
            sink.flush()
            bar.update(len(batch), faces=faces, failed=failed)
    return failed
