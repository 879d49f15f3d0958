"""``torchrun --nproc_per_node=N -m training.train CONFIG``: the same as ``prnet-train CONFIG``."""

import sys

from ..cli import train_main

sys.exit(train_main())
