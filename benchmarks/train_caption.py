"""Training throughput of vidcap's S2VT against a per-timestep LSTMCell loop of the same model.

vidcap runs each recurrent layer once over the whole (frames + words) sequence
(``nn.LSTM``, teacher forcing). The baseline is the seed's structure: a Python
loop over N frame steps and M word steps calling ``nn.LSTMCell`` -- with the very
same weights, the same batches and the same optimizer. Both losses are checked to
agree before timing. Prints a table of training samples/s and the speed-up, and
the compute floor: the step's FLOPs (forward + backward, counted by torch) at this
machine's measured matmul rate -- no implementation of the same model in the same
precision can train faster than that on this CPU. A third row trains the same model
in bf16 autocast (``precision="bf16"`` of ``vidcap train caption``).

    python benchmarks/train_caption.py                 # the bundled model's shape
    python benchmarks/train_caption.py --preset seed   # hidden 512, 80 frames, 4096-d
"""
from __future__ import annotations

import argparse
import os
import statistics
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

from vidcap.data.vocab import BOS, EOS, PAD
from vidcap.models.s2vt import S2VT, S2VTConfig
from vidcap.runtime import cpu_features, cpu_model
from vidcap.train.caption import autocast

PRESETS = {
    "small": dict(feature_dim=1280, hidden=64, frame_steps=16, max_words=20),
    "bundled": dict(feature_dim=1280, hidden=256, frame_steps=16, max_words=20),
    "seed": dict(feature_dim=4096, hidden=512, frame_steps=80, max_words=20),
}


class LoopS2VT(nn.Module):
    """The same S2VT (fig 5.3), stepped one time step at a time with LSTMCells, as the seed does."""

    def __init__(self, ref: S2VT):
        super().__init__()
        H = ref.config.hidden
        self.proj, self.embed, self.head = ref.proj, ref.embed, ref.head  # shared modules
        self.cell1 = nn.LSTMCell(H, H)
        self.cell2 = nn.LSTMCell(2 * H, H)
        for cell, rnn in ((self.cell1, ref.rnn1), (self.cell2, ref.rnn2)):
            cell.weight_ih, cell.weight_hh = rnn.weight_ih_l0, rnn.weight_hh_l0
            cell.bias_ih, cell.bias_hh = rnn.bias_ih_l0, rnn.bias_hh_l0

    def forward(self, feats, captions):
        B, T, _ = feats.shape
        x = self.proj(feats)  # (B, T, H)
        H = x.shape[-1]
        s1 = (x.new_zeros(B, H), x.new_zeros(B, H))
        s2 = (x.new_zeros(B, H), x.new_zeros(B, H))
        pad = x.new_zeros(B, H)
        for t in range(T):  # encoding
            s1 = self.cell1(x[:, t], s1)
            s2 = self.cell2(torch.cat([pad, s1[0]], 1), s2)
        words, targets = captions[:, :-1], captions[:, 1:]
        losses = []
        for t in range(words.shape[1]):  # decoding
            s1 = self.cell1(pad, s1)
            s2 = self.cell2(torch.cat([self.embed(words[:, t]), s1[0]], 1), s2)
            losses.append(self.head(s2[0]))
        logits = torch.stack(losses, 1)
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1), ignore_index=PAD)


def make_data(n_batches, batch, cfg, vocab, gen):
    data = []
    for _ in range(n_batches):
        feats = torch.randn(batch, cfg["frame_steps"], cfg["feature_dim"], generator=gen).relu()
        lengths = torch.randint(4, cfg["max_words"] - 1, (batch,), generator=gen)
        caps = torch.full((batch, cfg["max_words"] + 1), PAD)
        for i, n in enumerate(lengths.tolist()):
            caps[i, 0] = BOS
            caps[i, 1 : n + 1] = torch.randint(4, vocab, (n,), generator=gen)
            caps[i, n + 1] = EOS
        data.append((feats, caps))
    return data


def train_rates(impls, data, warmup=2):
    """Median samples/s of a training step (forward, backward, Adam) for each implementation.

    The implementations take turns batch by batch (alternating who goes first), so a
    busy machine slows them alike.
    """
    opts = {name: torch.optim.Adam(params, lr=1e-4) for name, (_, params) in impls.items()}
    times = {name: [] for name in impls}
    for i, (feats, caps) in enumerate(data):
        order = list(impls) if i % 2 == 0 else list(reversed(impls))
        for name in order:
            step, _ = impls[name]
            t0 = time.perf_counter()
            opts[name].zero_grad()
            step(feats, caps).backward()
            opts[name].step()
            if i >= warmup:
                times[name].append(time.perf_counter() - t0)
    return {name: len(data[0][0]) / statistics.median(t) for name, t in times.items()}


def matmul_gflops(threads: int) -> float:
    """Best fp32 matmul rate (GFLOP/s) at a size the recurrent products reach."""
    a, b = torch.randn(1024, 1024), torch.randn(1024, 1024)
    torch.mm(a, b)
    best = 0.0
    for _ in range(10):
        t0 = time.perf_counter()
        torch.mm(a, b)
        best = max(best, 2 * 1024**3 / (time.perf_counter() - t0) / 1e9)
    return best


def step_gflop(loop: LoopS2VT, feats, caps) -> float:
    """FLOPs of one training step's forward and backward pass, counted on the loop
    version (torch's counter sees its matrix products; it cannot see inside the
    fused oneDNN LSTM kernel, which does the same products)."""
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with counter:
        loop(feats, caps).backward()
    loop.zero_grad()
    return counter.get_total_flops() / 1e9


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--preset", choices=sorted(PRESETS), default="bundled")
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--batches", type=int, default=20)
    ap.add_argument("--vocab", type=int, default=300)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    cfg = PRESETS[args.preset]
    torch.manual_seed(0)
    model = S2VT(S2VTConfig(vocab_size=args.vocab, **cfg))
    loop = LoopS2VT(model)
    data = make_data(args.batches + 2, args.batch_size, cfg, args.vocab, torch.Generator().manual_seed(0))
    with torch.no_grad():  # same model, same numbers
        f, c = data[0]
        a, b = model(f, None, c)[1], loop(f, c)
        assert torch.allclose(a, b, atol=1e-4), (a, b)
    # two copies with equal weights, so both optimise the same model from the same start
    loop_model = S2VT(model.config)
    loop_model.load_state_dict(model.state_dict())
    loop = LoopS2VT(loop_model)
    bf16_model = S2VT(model.config)
    bf16_model.load_state_dict(model.state_dict())

    def bf16_step(f, c):
        with autocast("bf16"):
            return bf16_model(f, None, c)[1]

    rates = train_rates({"fast": (lambda f, c: model(f, None, c)[1], list(model.parameters())),
                         "loop": (lambda f, c: loop(f, c), list(loop.parameters())),
                         "bf16": (bf16_step, list(bf16_model.parameters()))}, data)
    fast, slow, bf16 = rates["fast"], rates["loop"], rates["bf16"]
    gflop, rate = step_gflop(loop, *data[0]), matmul_gflops(args.threads)
    floor = args.batch_size / (gflop / rate)
    flags = ", ".join(f"{k} {'yes' if v else 'no'}" for k, v in cpu_features().items())
    print(f"CPU: {cpu_model()} ({flags}); load average {os.getloadavg()[0]:.2f}")
    print(f"S2VT training, preset {args.preset} {cfg}, batch {args.batch_size}, vocab {args.vocab}, "
          f"median of {args.batches} interleaved batches, {args.threads} thread(s); losses agree ({float(a):.5f})")
    print(f"{'implementation':<36} {'samples/s':>10} {'speed-up':>9}")
    print(f"{'LSTMCell loop per time step (seed)':<36} {slow:10.1f} {1.0:9.2f}")
    print(f"{'vidcap: nn.LSTM over whole sequence':<36} {fast:10.1f} {fast / slow:9.2f}")
    print(f"{'vidcap, bf16 autocast (--precision)':<36} {bf16:10.1f} {bf16 / slow:9.2f}")
    print(f"{'compute floor (FLOPs / matmul rate)':<36} {floor:10.1f} {floor / slow:9.2f}")
    print(f"one step = {gflop:.2f} GFLOP (forward + backward); fp32 matmul rate {rate:.0f} GFLOP/s, "
          f"{args.threads} thread(s); vidcap reaches {fast / floor:.0%} of the floor")


if __name__ == "__main__":
    main()
