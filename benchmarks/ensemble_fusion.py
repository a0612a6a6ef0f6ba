"""Can n mini_xception networks in one graph cost less than n times one? Three ways of running
an output ensemble (litefer.models.ensemble), timed at batch 1 on this CPU:

- ``separate``: the graph `litefer average --ensemble` exports (members one after another);
- ``grouped``: the members fused layer by layer into one network of grouped convolutions (each
  conv's weights concatenated along the output channels, ``groups`` multiplied by n; the first
  conv reads the shared input), then reshaped to (N, n, classes) and averaged as before;
- ``parallel``: the separate graph under ONNX Runtime's parallel executor (the independent member
  branches on 2 inter-op threads, 1 intra-op thread each).

Weights are random (time does not depend on them); the grouped graph's outputs are checked
against the separate graph's before timing. Needs the `[train]` extra (torch builds the graphs):

    python benchmarks/ensemble_fusion.py --members 1 2 3 4 --repeats 1500 --rounds 3
"""
from __future__ import annotations

import argparse
import copy
import tempfile
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch
from torch import nn

from litefer.bench import timed
from litefer.models.ensemble import OutputEnsemble
from litefer.models.mini_xception import MiniXception
from litefer.runtime.classifier import create_session


def grouped(members: list[nn.Module]) -> nn.Module:
    """One network computing all ``members`` side by side: (N, C, H, W) -> (N, n * classes)."""
    n, net = len(members), copy.deepcopy(members[0])
    by_name = [dict(m.named_modules()) for m in members]
    first = True
    for name, mod in list(net.named_modules()):
        parts = [d[name] for d in by_name]
        if isinstance(mod, nn.Conv2d):
            cin, groups = (mod.in_channels, mod.groups) if first else (mod.in_channels * n,
                                                                       mod.groups * n)
            if first and mod.groups != 1:
                raise ValueError("the first convolution must read all input channels")
            first = False
            new = nn.Conv2d(cin, mod.out_channels * n, mod.kernel_size, mod.stride, mod.padding,
                            mod.dilation, groups, bias=mod.bias is not None)
            new.weight.data = torch.cat([p.weight.data for p in parts])
            if mod.bias is not None:
                new.bias.data = torch.cat([p.bias.data for p in parts])
        elif isinstance(mod, nn.BatchNorm2d):
            new = nn.BatchNorm2d(mod.num_features * n, mod.eps)
            for key in ("weight", "bias", "running_mean", "running_var"):
                getattr(new, key).data = torch.cat([getattr(p, key).data for p in parts])
        else:
            continue
        parent, _, leaf = name.rpartition(".")
        setattr(net.get_submodule(parent) if parent else net, leaf, new)
    return net


class GroupedEnsemble(nn.Module):
    """(N, C, H, W) -> (N, classes): the mean of the members' log-softmax, as OutputEnsemble."""

    def __init__(self, members: list[nn.Module]):
        super().__init__()
        self.n, self.net = len(members), grouped(members)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.net(x)
        return torch.log_softmax(y.view(y.shape[0], self.n, -1), -1).mean(1)


def random_members(n: int, seed: int) -> list[nn.Module]:
    torch.manual_seed(seed)
    members = [MiniXception().eval() for _ in range(n)]
    for m in members:  # non-trivial batch-norm statistics, so the parity check means something
        for bn in (b for b in m.modules() if isinstance(b, nn.BatchNorm2d)):
            bn.running_mean.uniform_(-1, 1)
            bn.running_var.uniform_(0.5, 2)
    return members


def export(model: nn.Module, path: Path) -> Path:
    torch.onnx.export(model, torch.zeros(1, 1, 48, 48), str(path), input_names=["x"],
                      output_names=["logits"], dynamic_axes={"x": {0: "n"}}, opset_version=17,
                      dynamo=False)
    return path


def parallel_session(path: Path) -> ort.InferenceSession:
    opts = ort.SessionOptions()
    opts.execution_mode = ort.ExecutionMode.ORT_PARALLEL
    opts.inter_op_num_threads, opts.intra_op_num_threads = 2, 1
    opts.enable_mem_pattern = False
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--members", type=int, nargs="+", default=[1, 2, 3, 4])
    p.add_argument("--repeats", type=int, default=1500)
    p.add_argument("--rounds", type=int, default=3, help="each configuration timed this often, "
                   "interleaved with the others")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    x = np.random.default_rng(0).random((1, 1, 48, 48), dtype=np.float32)
    sessions = {}
    with tempfile.TemporaryDirectory() as tmp:
        for n in args.members:
            members = random_members(n, seed=n)
            if n == 1:
                path = export(members[0], Path(tmp) / "one.onnx")
                sessions[n, "one network"] = [create_session(path, 1), create_session(path, 0)]
                continue
            sep = export(OutputEnsemble(members).eval(), Path(tmp) / f"sep{n}.onnx")
            fused = export(GroupedEnsemble(members).eval(), Path(tmp) / f"grouped{n}.onnx")
            probe = np.random.default_rng(n).random((8, 1, 48, 48), dtype=np.float32)
            a, b = (create_session(f, 1).run(None, {"x": probe})[0] for f in (sep, fused))
            gap = float(np.abs(a - b).max())
            if gap > 1e-4:
                raise SystemExit(f"grouped graph of {n} differs from the separate one by {gap}")
            sessions[n, "separate"] = [create_session(sep, 1), create_session(sep, 0)]
            sessions[n, "grouped"] = [create_session(fused, 1), create_session(fused, 0)]
            sessions[n, "parallel"] = [parallel_session(sep)]
        times: dict[tuple, list[float]] = {}
        for _ in range(args.rounds):
            for key, group in sessions.items():
                for i, s in enumerate(group):
                    label = "parallel 2x1" if key[1] == "parallel" else ("intra 1", "intra 0")[i]
                    t = timed(lambda: s.run(None, {"x": x}), 200, args.repeats)
                    times.setdefault((*key, label), []).append(float(np.median(t)) * 1e3)
    print(f"onnxruntime {ort.__version__}; p50 ms at batch 1 over {args.repeats} calls, "
          f"{args.rounds} rounds (intra 0 = ONNX Runtime's choice, as `litefer bench`)")
    print(f"{'networks':>8}  {'graph':<12} {'threads':<13} p50 ms per round")
    for (n, graph, label), v in times.items():
        print(f"{n:>8}  {graph:<12} {label:<13} " + "  ".join(f"{t:.3f}" for t in v))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
