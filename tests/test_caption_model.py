"""S2VT model: shapes, masking, teacher forcing vs step decoding, greedy vs beam."""
import pytest
import torch

from vidcap.data.vocab import BOS, EOS, PAD
from vidcap.errors import ConfigError
from vidcap.models.s2vt import S2VT, S2VTConfig

VARIANTS = [(v, c) for v in ("s2vt", "encdec", "attention") for c in ("lstm", "gru")]


pytestmark = pytest.mark.usefixtures("torch_one_thread")


def make(variant="s2vt", cell="lstm", **kw):
    torch.manual_seed(0)
    cfg = S2VTConfig(vocab_size=25, feature_dim=12, hidden=16, frame_steps=7, max_words=8, variant=variant, cell=cell, **kw)
    return S2VT(cfg).eval()


def batch():
    g = torch.Generator().manual_seed(1)
    feats = torch.randn(3, 7, 12, generator=g)
    mask = torch.ones(3, 7, dtype=torch.bool)
    mask[1, 4:] = False
    mask[2, 0] = False  # a hole at the start
    caps = torch.tensor([
        [BOS, 5, 6, 7, EOS, PAD, PAD, PAD, PAD],
        [BOS, 8, EOS, PAD, PAD, PAD, PAD, PAD, PAD],
        [BOS, 4, 9, 4, 9, 4, 9, 4, EOS],
    ])
    return feats, mask, caps


@pytest.mark.parametrize("variant,cell", VARIANTS)
def test_shapes_and_masked_loss(variant, cell):
    m = make(variant, cell)
    feats, mask, caps = batch()
    logits, loss = m(feats, mask, caps)
    assert logits.shape == (3, 8, 25)
    targets = caps[:, 1:]
    ce = torch.nn.functional.cross_entropy(logits.transpose(1, 2), targets, reduction="none")
    keep = targets != PAD
    assert torch.allclose(loss, ce[keep].mean())
    first, none = m(feats, mask)
    assert first.shape == (3, 1, 25) and none is None
    assert torch.allclose(first[:, 0], logits[:, 0], atol=1e-5)


@pytest.mark.parametrize("variant,cell", VARIANTS)
def test_padded_frames_are_ignored(variant, cell):
    m = make(variant, cell)
    feats, mask, caps = batch()
    logits, _ = m(feats, mask, caps)
    garbage = feats.clone()
    garbage[~mask] = 1e3  # whatever sits in padded rows must not matter
    logits2, _ = m(garbage, mask, caps)
    assert torch.allclose(logits, logits2, atol=1e-5)
    alone, _ = m(feats[1:2, :4], None, caps[1:2])  # the short video on its own, no padding
    assert torch.allclose(alone, logits[1:2], atol=1e-5)
    holes, _ = m(feats[2:3, 1:], None, caps[2:3])
    assert torch.allclose(holes, logits[2:3], atol=1e-5)


def check_steps_match_teacher_forcing(m):
    """Step-by-step decoding of the batch's captions gives the teacher-forced log-probs; returns the loss."""
    feats, mask, caps = batch()
    logits, loss = m(feats, mask, caps)
    states = m._encode(feats, mask)
    for t in range(caps.shape[1] - 1):
        logp, states = m._step(caps[:, t], states)
        assert torch.allclose(logp, torch.log_softmax(logits[:, t], -1), atol=1e-5)
    return loss


@pytest.mark.parametrize("variant,cell", VARIANTS)
def test_teacher_forcing_equals_step_by_step(variant, cell):
    check_steps_match_teacher_forcing(make(variant, cell))


@pytest.mark.parametrize("variant,cell", VARIANTS)
def test_beam_one_is_greedy_and_beam_search_is_sane(variant, cell):
    m = make(variant, cell)
    feats, mask, _ = batch()
    greedy, gscore = m.generate(feats, mask)
    beam1, bscore = m._beam(feats, mask, 1, 8, 0.0)
    assert greedy == beam1
    assert torch.allclose(gscore, bscore, atol=1e-5)
    beam, score = m.generate(feats, mask, beam_size=4)
    assert len(beam) == 3
    for seq in greedy + beam:
        assert len(seq) <= 8 and not {PAD, BOS, EOS} & set(seq)
    # the score reported is the sequence's log-probability under teacher forcing
    for i, seq in enumerate(beam):
        cap = torch.tensor([[BOS] + seq + ([EOS] if len(seq) < 8 else [])])
        logits, _ = m(feats[i : i + 1], mask[i : i + 1], cap)
        logp = torch.log_softmax(logits, -1)[0].gather(1, cap[0, 1:, None]).sum()
        assert torch.allclose(logp, score[i], atol=1e-4)


def test_beam_is_batched_consistently():
    m = make()
    feats, mask, _ = batch()
    together, _ = m.generate(feats, mask, beam_size=3, length_penalty=0.7)
    alone = [m.generate(feats[i : i + 1], mask[i : i + 1], beam_size=3, length_penalty=0.7)[0][0] for i in range(3)]
    assert together == alone


@pytest.mark.parametrize("variant", ["s2vt", "encdec", "attention"])
def test_training_runs_each_layer_over_whole_sequences_not_a_step_loop(variant):
    m = make(variant)
    calls = []
    for rnn in (m.rnn1, m.rnn2):
        rnn.register_forward_hook(lambda mod, inp, out: calls.append((mod, inp[0].data.shape[-2])))
    feats, mask, caps = batch()
    m(feats, mask, caps)
    # s2vt: each layer once over the frames, once over the words; encdec / attention: LSTM1 over the
    # frames, LSTM2 over the words
    expected = [m.rnn1, m.rnn2, m.rnn1, m.rnn2] if variant == "s2vt" else [m.rnn1, m.rnn2]
    assert [c for c, _ in calls] == expected


@pytest.mark.parametrize("variant", ["s2vt", "encdec", "attention"])
def test_without_projection_lstm1_reads_the_features(variant):
    m = make(variant, project=False)
    assert m.proj is None and m.rnn1.input_size == 12
    check_steps_match_teacher_forcing(m).backward()
    assert m.rnn1.weight_ih_l0.grad.abs().sum() > 0


def test_normalization_standardises_the_inputs():
    m = make("encdec", normalize=True)
    feats, mask, caps = batch()
    before, _ = m(feats, mask, caps)
    mean, std = torch.randn(12), torch.rand(12) + 0.5
    m.set_normalization(mean, std)
    shifted, _ = m(feats * std + mean, mask, caps)  # the same video in the raw units
    assert torch.allclose(before, shifted, atol=1e-4)
    assert set(m.state_dict()) >= {"feat_mean", "feat_std"}
    with pytest.raises(ConfigError, match="normalize=True"):
        make().set_normalization(mean, std)


def test_attention_weights_are_a_distribution_over_the_valid_frames():
    m = make("attention")
    feats, mask, caps = batch()
    alpha = m.attention(feats, mask, caps)  # (B, M, T)
    assert alpha.shape == (3, 8, 7)
    assert torch.allclose(alpha.sum(-1), torch.ones(3, 8), atol=1e-5)
    n = mask.sum(1)
    for b in range(3):
        assert torch.all(alpha[b, :, n[b]:] == 0)  # padded frames get no weight
    # a frame's content moves the weights: the decoder looks at what is there
    changed = feats.clone()
    changed[0, 3] += 5
    assert not torch.allclose(m.attention(changed, mask, caps)[0], alpha[0])
    with pytest.raises(ConfigError, match="no attention"):
        make("encdec").attention(feats, mask, caps)


def test_bad_config_and_inputs():
    with pytest.raises(ConfigError, match="variant"):
        S2VTConfig(vocab_size=5, variant="transformer")
    with pytest.raises(ConfigError, match="cell"):
        S2VTConfig(vocab_size=5, cell="rnn")
    m = make()
    feats, mask, caps = batch()
    with pytest.raises(ConfigError, match="expected \\(B, T, 12\\)"):
        m(feats[..., :5], mask, caps)
    with pytest.raises(ConfigError, match="no valid frame"):
        m(feats, torch.zeros_like(mask), caps)
    with pytest.raises(ConfigError, match="beam_size"):
        m.generate(feats, mask, beam_size=0)


@pytest.mark.parametrize("variant,cell", [("s2vt", "gru"), ("attention", "lstm"), ("encdec", "gru")])
def test_onnx_export_decodes_like_torch(variant, cell, tmp_path, monkeypatch):
    import numpy as np

    from vidcap.data.vocab import Vocabulary
    from vidcap.io.checkpoints import save_checkpoint
    from vidcap.tasks import caption_onnx
    from vidcap.tasks.caption import make_checkpoint

    monkeypatch.setenv("VIDCAP_CACHE", str(tmp_path / "cache"))
    m = make(variant, cell)
    vocab = Vocabulary([f"w{i}" for i in range(21)])  # 21 words + 4 specials = vocab_size 25
    path = save_checkpoint(make_checkpoint(m, vocab, backbone="mobilenet_v2", num_frames=7), tmp_path / "m.pt")
    runner, meta = caption_onnx.load(path)
    assert meta["model_args"]["variant"] == variant and (caption_onnx.export_folder(path) / "meta.json").is_file()
    feats, mask, _ = batch()
    for beam in (1, 3):
        ids, scores = runner.generate(feats.numpy(), mask.numpy(), beam_size=beam)
        want, want_scores = m.generate(feats, mask, beam_size=beam)
        assert ids == want
        assert np.allclose(scores, want_scores, atol=1e-4)
