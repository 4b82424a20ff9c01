"""The multi-GPU recipe's files parse and name what the course's models need.

Multi-GPU runs cannot be tested on a CPU machine; what can be is tested: the FSDP
config is one accelerate reads, and its layer class exists in transformers.
"""

import yaml
from accelerate.commands.config.config_args import load_config_from_file

from companion.config import PROJECT_ROOT

FSDP = PROJECT_ROOT / "configs" / "accelerate_fsdp.yaml"


def test_the_fsdp_config_is_one_accelerate_reads():
    config = load_config_from_file(str(FSDP))
    assert str(config.distributed_type).endswith("FSDP")
    assert config.mixed_precision == "bf16" and config.num_processes == 8
    assert config.fsdp_config["fsdp_version"] == 2


def test_the_wrapped_layer_is_the_olmo_decoder_layer():
    settings = yaml.safe_load(FSDP.read_text())["fsdp_config"]
    layer = settings["fsdp_transformer_layer_cls_to_wrap"]
    from transformers.models.olmo import modeling_olmo

    assert hasattr(modeling_olmo, layer)
