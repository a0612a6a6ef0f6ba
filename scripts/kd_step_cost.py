"""Time of one distillation step split into its parts: the teacher's forward pass and the student's
training step (forward, backward, AdamW), on a random batch, at a fixed thread count.

    python scripts/kd_step_cost.py --model nano_a --model nano_c --threads 1 \\
        --teacher results/training/teachers/vgg_fer.e40.onnx \\
        --teacher results/training/teachers/vgg_fer.r2.onnx --teacher-tta --json

Medians of ``--repeats`` calls after one warm-up call, in milliseconds per batch. This is what
`litefer train --teacher-views K` saves: with a bank, an epoch costs the student steps only.
"""
from __future__ import annotations

import argparse
import json
import statistics
import time

import torch

from litefer.models import create_model
from litefer.train.distill import OnnxTeacher


def median_ms(fn, repeats: int) -> float:
    fn()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", action="append", required=True)
    p.add_argument("--teacher", action="append", required=True)
    p.add_argument("--teacher-tta", action="store_true")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--repeats", type=int, default=10)
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    x = torch.randn(args.batch_size, 1, 48, 48)
    y = torch.randint(0, 7, (args.batch_size,))
    rows = {}
    for name in args.model:
        model, spec = create_model(name)
        teacher = OnnxTeacher(args.teacher, spec, tta=args.teacher_tta, threads=args.threads)
        opt = torch.optim.AdamW(model.parameters())

        def step():
            loss = torch.nn.functional.cross_entropy(model(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()

        rows[name] = {"student_step_ms": median_ms(step, args.repeats),
                      "teacher_ms": median_ms(lambda: teacher(x), args.repeats)}
    out = {"batch_size": args.batch_size, "threads": args.threads, "teachers": args.teacher,
           "teacher_tta": args.teacher_tta, "models": rows}
    if args.json:
        print(json.dumps(out, indent=2))
    else:
        for name, r in rows.items():
            print(f"{name}: student step {r['student_step_ms']:.0f} ms, "
                  f"teacher {r['teacher_ms']:.0f} ms per batch of {args.batch_size}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
