"""Chapter 02's settings refuse what cannot work, naming the parameter."""

import pytest

from mmdl_lib.chapters.talk2car import Talk2CarConfig
from mmdl_lib.errors import ConfigError


@pytest.mark.parametrize("kwargs, message", [({"mode": "2"}, "'mode'.*one of"), ({"text_encoder": "bert"}, "text_encoder"),
                                             ({"encoder_variant": "tiny"}, "encoder_variant")])
def test_talk2car_config_validation(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        Talk2CarConfig.from_profile("smoke", **kwargs)
