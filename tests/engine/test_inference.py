import torch

from mmdl_lib.engine.inference import batched_outputs


def test_outputs_come_back_in_dataset_order_on_the_cpu_in_the_asked_dtype():
    data = torch.arange(10, dtype=torch.float32)[:, None]
    out = batched_outputs(lambda x: x * 2, data, torch.device("cpu"), batch_size=3, dtype=torch.float16)
    assert out.dtype == torch.float16 and out[:, 0].tolist() == [2.0 * i for i in range(10)]
