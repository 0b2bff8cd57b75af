import numpy as np

from mmdl_lib.chapters.talk2car.figures import plot_token_scores


def test_token_scores_cover_the_image_and_mask_the_unscored_tokens():
    image = np.full((90, 160, 3), 200, np.uint8)
    scores = np.zeros((2, 9, 16))
    scores[:, 2, 3] = 1.0
    fig = plot_token_scores([image, image], scores, [[30, 20, 10, 10]] * 2, [[25, 15, 20, 20], None], ["a", "b"],
                            cols=3)
    axes = fig.axes
    assert len(axes) == 3 and not axes[2].axison  # the unused panel is blank
    heat = axes[0].images[-1]
    assert heat.get_extent() == [0, 160, 90, 0]  # the 16×9 grid stretched over the 160×90 image
    assert heat.get_array().mask.sum() == 9 * 16 - 1  # only the scored token is drawn
    assert len(axes[0].patches) == 2 and len(axes[1].patches) == 1  # no ground truth on the second
