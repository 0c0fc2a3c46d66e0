"""Adam, as torch.optim.Adam with its default settings computes it, without the class around it.

Constructing or stepping a torch.optim.Optimizer imports torch._dynamo, the compiler behind
torch.compile, which this project never uses, at the start of every training stage (README,
Performance, has the cost). This class keeps the same state per parameter (step, exp_avg, exp_avg_sq)
and hands it to torch's own functional update, torch.optim.adam.adam, with the arguments
torch.optim.Adam passes, so the weights come out bit for bit the same (tests/test_train.py).
"""
import torch
from torch.optim.adam import adam


class Adam:
    """Adam(lr) over `parameters`; fused=True takes torch's fused kernel (one kernel per step for
    all parameters), fused=False the default per-parameter form."""

    def __init__(self, parameters, lr, fused=False):
        self.params, self.lr, self.fused = list(parameters), float(lr), fused
        self.state = [self._new_state(p) for p in self.params]

    def _new_state(self, p):
        # where torch.optim.Adam keeps the step count: on the parameter's device when fused,
        # else a CPU scalar
        step = torch.zeros((), dtype=torch.float32, device=p.device) if self.fused else torch.tensor(0.0)
        zeros = lambda: torch.zeros_like(p, memory_format=torch.preserve_format)
        return {"step": step, "exp_avg": zeros(), "exp_avg_sq": zeros()}

    def zero_grad(self):
        for p in self.params:
            p.grad = None

    @torch.no_grad()
    def step(self):
        live = [(p, s) for p, s in zip(self.params, self.state) if p.grad is not None]
        adam([p for p, _ in live], [p.grad for p, _ in live], [s["exp_avg"] for _, s in live],
             [s["exp_avg_sq"] for _, s in live], [], [s["step"] for _, s in live],
             foreach=None, capturable=False, differentiable=False, fused=self.fused or None, grad_scale=None,
             found_inf=None, has_complex=False, decoupled_weight_decay=False, amsgrad=False, beta1=0.9,
             beta2=0.999, lr=self.lr, weight_decay=0.0, eps=1e-8, maximize=False)

    def state_dict(self):
        return {"lr": self.lr, "fused": self.fused, "state": self.state}

    def load_state_dict(self, saved):
        shapes = lambda state: [s["exp_avg"].shape for s in state]
        if (saved["lr"], saved["fused"], shapes(saved["state"])) != (self.lr, self.fused, shapes(self.state)):
            raise ValueError("the saved optimizer state is for other settings or parameters")
        for mine, theirs in zip(self.state, saved["state"]):
            for key, tensor in mine.items():
                tensor.copy_(theirs[key])
