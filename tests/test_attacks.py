"""Stronger membership attacks on hand-made cases with known values."""

import math
import random
import string
import zlib

import numpy as np
import pandas as pd
import pytest
import torch

from companion import attacks, membership, textloss
from companion.config import CourseError
from companion.models import EOS, train_tokenizer
from toy import tiny_gpt2

TEXTS = [f"The {w} of Amberton sings {n} songs at dawn." for w in
         ("baker", "smith", "weaver", "miller") for n in range(6)]


@pytest.fixture(scope="module")
def tokenizer():
    tok = train_tokenizer(TEXTS, vocab_size=300)
    tok.padding_side = "right"
    return tok


@pytest.fixture(scope="module")
def model(tokenizer):
    assert tokenizer.convert_tokens_to_ids(EOS) == 0  # tiny_gpt2's EOS and padding
    return tiny_gpt2(tokenizer).eval()


def test_min_k_averages_the_least_likely_share_of_a_known_distribution():
    probs = np.array([0.5, 0.05, 0.9, 0.1, 0.8, 0.6, 0.7, 0.02, 0.95, 0.4])
    # 20% of 10 tokens: the two least likely, 0.02 and 0.05
    expected = (math.log(0.02) + math.log(0.05)) / 2
    assert attacks.min_k_score(np.log(probs), 0.2) == pytest.approx(expected)
    # k = 1 is the mean log-prob (-loss); a share below one token keeps one token
    assert attacks.min_k_score(np.log(probs), 1.0) == pytest.approx(np.log(probs).mean())
    assert attacks.min_k_score(np.log(probs), 0.01) == pytest.approx(math.log(0.02))
    with pytest.raises(CourseError, match="share"):
        attacks.min_k_score(np.log(probs), 0)


def test_min_k_plus_plus_standardises_by_the_next_token_distribution():
    # a uniform next-token distribution over 4 tokens: mu = log 1/4, sigma = 0,
    # so a token at exactly the mean scores 0; here mean and std are given
    logp = np.array([-1.0, -3.0, -2.0, -0.5])
    mean = np.array([-2.0, -2.0, -1.0, -1.5])
    std = np.array([0.5, 1.0, 2.0, 0.25])
    z = np.array([2.0, -1.0, -0.5, 4.0])  # (logp - mean) / std by hand
    assert attacks.min_k_plus_plus_score(logp, mean, std, 0.5) == pytest.approx(-0.75)
    assert attacks.min_k_plus_plus_score(logp, mean, std, 1.0) == pytest.approx(z.mean())


def test_token_stats_match_a_hand_computed_distribution(model, tokenizer):
    stats = attacks.token_stats(model, tokenizer, TEXTS[:3], batch_size=2)
    ids = torch.tensor([textloss.encode(tokenizer, TEXTS[1:2], 64)[0]])  # EOS at the end
    with torch.no_grad():
        logp_all = torch.log_softmax(model(ids).logits[0, :-1].double(), -1)
    p = logp_all.exp()
    mu = (p * logp_all).sum(-1)
    sigma = ((p * (logp_all - mu[:, None]) ** 2).sum(-1)).sqrt()
    target = logp_all.gather(1, ids[0, 1:, None])[:, 0]
    assert stats[1].logp == pytest.approx(target.numpy(), abs=1e-4)
    assert stats[1].mean == pytest.approx(mu.numpy(), abs=1e-4)
    assert stats[1].std == pytest.approx(sigma.numpy(), abs=1e-3)
    # the mean token log-prob is minus the official document loss
    losses = textloss.document_losses(model, tokenizer, TEXTS[:3])
    assert [-s.logp.mean() for s in stats] == pytest.approx(losses, abs=1e-5)


def test_zlib_ratio_on_a_repeated_string():
    rng = random.Random(0)
    repeated = "ab" * 500
    varied = "".join(rng.choice(string.ascii_letters) for _ in range(1000))
    assert attacks.zlib_entropy(repeated) == len(zlib.compress(repeated.encode()))
    assert attacks.zlib_entropy(repeated) < 20 < 500 < attacks.zlib_entropy(varied)
    # the same loss is a far larger ratio on a text zlib finds trivial
    assert attacks.zlib_ratio(2.0, repeated) == pytest.approx(
        2.0 / attacks.zlib_entropy(repeated))
    assert attacks.zlib_ratio(2.0, repeated) > 20 * attacks.zlib_ratio(2.0, varied)


def test_attack_auc_orientation_and_known_values():
    assert attacks.attack_auc([3, 4, 5], [0, 1, 2]) == 1.0
    assert attacks.attack_auc([0, 1], [2, 3]) == 0.0
    assert attacks.attack_auc([1, 2], [1, 2]) == 0.5
    assert attacks.attack_auc([1, 3], [2]) == 0.5  # one pair above, one below
    with pytest.raises(CourseError, match="non-empty"):
        attacks.attack_auc([], [1.0])


def test_loss_attack_agrees_with_the_official_mia(model, tokenizer):
    members, nonmembers = TEXTS[:5], TEXTS[10:16]
    scores = [attacks.attack_scores(model, tokenizer, t, reference=model)
              for t in (members, nonmembers)]
    official = membership.mia_score(textloss.document_losses(model, tokenizer, members),
                                    textloss.document_losses(model, tokenizer,
                                                               nonmembers))
    auc = attacks.attack_auc(scores[0]["loss"], scores[1]["loss"])
    assert auc == pytest.approx(official["auc"])
    # a model used as its own reference gives every text the same score: AUC 0.5
    assert scores[0]["reference"].abs().max() < 1e-6
    assert attacks.attack_auc(scores[0]["reference"], scores[1]["reference"]) == 0.5
    assert list(scores[0].columns) == list(attacks.ATTACKS)


def test_over_oracle_is_the_extra_distance_from_chance():
    table = pd.DataFrame({"oracle": [0.55, 0.5], "unlearned": [0.9, 0.3]},
                         index=["loss", "min_k"])
    gap = attacks.over_oracle(table)
    assert gap["unlearned"].tolist() == pytest.approx([0.35, 0.2])
    with pytest.raises(CourseError, match="oracle"):
        attacks.over_oracle(table[["unlearned"]])
