import csv

import numpy as np
import pytest

from mmdl_lib.chapters.car_classification.qlora_vlm import chat_text, hybrid_prompt
from mmdl_lib.chapters.car_classification.submission import topk_indices, topk_lists, write_topk_csv
from mmdl_lib.chapters.car_classification.vlm_finetune import hybrid_probabilities


def test_topk_is_ordered_and_named(tmp_path):
    probs = np.array([[0.1, 0.6, 0.3], [0.5, 0.2, 0.3]])
    assert topk_indices(probs, 2).tolist() == [[1, 2], [0, 2]]
    lists = topk_lists(probs, ["a", "b", "c"], 2)
    assert lists[0] == [("b", 0.6), ("c", 0.3)]
    path = write_topk_csv(tmp_path / "top.csv", ["X", "Y"], lists)
    rows = list(csv.reader(path.open()))
    assert rows[0] == ["ID", "rank", "class", "probability"] and rows[1] == ["X", "1", "b", "0.600000"]
    assert len(rows) == 5


def test_hybrid_prompt_hands_the_topk_with_percentages():
    text = hybrid_prompt([("Santa_Fe_2020", 0.7), ("Sorento_2021", 0.2), ("Tucson_2019", 0.046)])
    assert text == ("Which car model is this? CV predictions: Santa_Fe_2020 (70%), Sorento_2021 (20%), "
                    "Tucson_2019 (5%). Answer with the model name.")
    chat = chat_text(text)
    assert "<|vision_start|><|image_pad|><|vision_end|>" + text in chat
    assert chat.endswith("<|im_start|>assistant\n")


def test_hybrid_probabilities_share_out_the_candidates_mass():
    cv = np.array([[0.5, 0.3, 0.1, 0.1]])
    candidates = np.array([[0, 1]])
    scores = np.log(np.array([[1.0, 3.0]]))  # the VLM prefers class 1, 3 : 1
    out = hybrid_probabilities(cv, candidates, scores)
    assert out[0].tolist() == pytest.approx([0.2, 0.6, 0.1, 0.1])
    assert out.sum() == pytest.approx(1.0)
