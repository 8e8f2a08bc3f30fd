"""Run by tests/test_distributed.py under torchrun: the tiny Llama sharded with ftkit's FSDP wrap policy (PyTorch's
FSDP2, gloo, CPU), one optimizer step on a fixed batch of 8 rows split across the processes, then a sharded
checkpoint (as accelerate writes with SHARDED_STATE_DICT) and the full state dict for comparison."""
import sys
from pathlib import Path
import torch, torch.distributed as dist
import torch.distributed.checkpoint as dcp
from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict
from ftkit.config import load_config
from ftkit.distributed import shard, wrap_classes
from ftkit.models import load_model

dist.init_process_group('gloo')
rank, world = dist.get_rank(), dist.get_world_size()
out = Path(sys.argv[1])
model = load_model(load_config(str(Path(__file__).parents[1]/'examples'/'honeycomb-tiny.yml')))
classes = wrap_classes(model)
wrapped = sum(type(m).__name__ in classes for m in model.modules())
shard(model, classes)
ids = torch.randint(0, 1000, (8, 32), generator=torch.Generator().manual_seed(0))
mine = ids.chunk(world)[rank]
opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
loss = model(input_ids=mine, labels=mine).loss
loss.backward()
opt.step()
dcp.save(get_model_state_dict(model), checkpoint_id=str(out/'pytorch_model_fsdp_0'))
full = get_model_state_dict(model, options=StateDictOptions(full_state_dict=True, cpu_offload=True))
if rank == 0:
    torch.save(full, out/'full.pt')
    print(f'world {world}: wrapped {wrapped} {" ".join(classes)}')
dist.destroy_process_group()
