r"""The fast path behind :func:`course_lib.cells.unroll`: the same cells, with a hand-written BPTT.

Why it exists: at course sizes (B=64, H=256) a Python loop that lets autograd record every
small operation spends as much time on bookkeeping as on arithmetic, and its backward does a
small weight-gradient product at every step. Here one :class:`torch.autograd.Function` runs the
whole sequence:

* forward: the input term of every step comes in precomputed (one large product, as in the
  readable loop); each step does ONE recurrent matrix product straight into a preallocated
  time-major buffer, then the gate nonlinearities in place (one kernel per block of gates);
* backward: the loop of backpropagation through time written out (the derivatives of
  ``sigmoid``, ``tanh`` and the state updates), and the recurrent weight gradients as ONE large
  product over all steps at the end (``dW_hh = sum_t dpre_t^T h_{t-1}``);
* every step's views of those buffers (``P_t[t]``, ``h_prev[t]``, each gate block) are made once,
  before the loop: indexing inside it cost about a tenth of the unroll at B=64, H=256;
* padded batches run packed: sequences sorted by length, step t only touches the rows still
  running, as ``torch.nn.utils.rnn.pack_padded_sequence`` does.

The equations are those of the cells' ``step`` methods in :mod:`course_lib.cells`, which stay
the reference a student reads; tests compare both paths in float64. Only the exact course
classes are accelerated (a subclass may change ``step``). Second derivatives are not supported
(``backward`` is ``once_differentiable``); ``unroll(..., fast=False)`` gives the readable loop.

Shapes: ``pre: (B, T, G*H)`` projected inputs, states ``(B, H)``, outputs ``(B, T, H)``.
Inside, buffers are time-major ``(T, B, ...)`` so that a step's rows are contiguous.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

from course_lib import cells as _cells

MASKED: bool | None = None
"""How padded batches run when a call does not say (see :class:`Plan`): None = masked on CUDA where
graphs can replay it, packed elsewhere; True or False forces one way everywhere (benchmarks compare them)."""

# One fused kernel for grad * f'(x) given y = f(x): sigmoid: y(1-y), tanh: 1-y^2. Three
# separate elementwise ops otherwise, and at these sizes each op costs about as much as its work.
_sigmoid_backward = torch.ops.aten.sigmoid_backward.grad_input
_tanh_backward = torch.ops.aten.tanh_backward.grad_input


def _sigmoid_grad_(grad: Tensor, y: Tensor) -> Tensor:
    """In place: ``grad *= y * (1 - y)`` (the sigmoid's derivative from its output y)."""
    return _sigmoid_backward(grad, y, grad_input=grad)


def _tanh_grad_(grad: Tensor, y: Tensor) -> Tensor:
    """In place: ``grad *= 1 - y**2`` (the tanh's derivative from its output y)."""
    return _tanh_backward(grad, y, grad_input=grad)


class Plan(NamedTuple):
    """How one unroll runs, apart from its tensors.

    Three ways with padded batches: none (``lengths`` None: every sequence runs all T steps);
    packed (``order`` set: rows sorted by length, ``rows[t]`` of them run step t); masked
    (``masked``: every row runs every step -- a row's later steps cannot change its earlier
    ones -- then the outputs past each length are zeroed, its final state read at its length,
    and the backward starts each row's final-state gradient at its last step). Masked keeps
    the shapes fixed, so a CUDA graph can replay it for any lengths.
    """

    loop_class: type
    relu: bool
    rows: list[int]  # per step: how many (sorted) rows run it
    lengths: Tensor | None = None  # packed: sorted; masked: in batch order; None: all T
    order: Tensor | None = None  # packed: the batch index of each sorted row
    inverse: Tensor | None = None  # packed: the sorted row of each batch index
    masked: bool = False


class _Loop:
    """One unroll's buffers and its forward and backward steps; one subclass per cell.

    ``P: (T, B, G*H)`` holds the pre-activations, overwritten by the gate activations;
    ``hs, cs: (T+1, B, H)`` every state, ``hs[0]`` the initial one (and, with a cell state,
    ``tc: (T, B, H)`` = tanh(c_t), which the cell's ``allocate`` makes). ``rows[t]`` = how many
    (length-sorted) sequences are still running at step t.
    """

    has_cell_state = False

    def __init__(self, P: Tensor, h0: Tensor, c0: Tensor | None, w_hh: Tensor, extra: dict, rows: list[int]):
        T, B, _ = P.shape
        H = h0.shape[1]
        self.T, self.B, self.H, self.rows = T, B, H, rows
        # Packed (some sequences stop early): rows that stopped are never written but are read
        # by the bulk products of the backward, so they must hold zeros; else no fill is needed.
        self.packed = rows[-1] < B
        self.new_buffer = torch.zeros if self.packed else torch.empty
        self.P, self.w_hh, self.w_hh_t = P, w_hh, w_hh.t()
        self.extra = extra
        self.hs = self.new_buffer(T + 1, B, H, dtype=P.dtype, device=P.device)
        self.hs[0] = h0
        if self.has_cell_state:
            self.cs = self.new_buffer(T + 1, B, H, dtype=P.dtype, device=P.device)
            self.cs[0] = c0
        self.allocate()

    def allocate(self) -> None:
        """Extra per-step buffers a cell saves for its backward."""

    def step_views(self, buffer: Tensor, offset: int = 0) -> list[Tensor]:
        """``[buffer[t + offset, :rows[t]] for every step t]``, made once per unroll.

        At B=64, H=256 indexing inside the loop (a ``select`` and a ``slice`` per tensor, through
        Python) costs about a tenth of the whole unroll; ``unbind`` makes every step's view at once.
        """
        steps = buffer.unbind(0)[offset : offset + self.T]
        if not self.packed:
            return list(steps)
        return [step[:n] for step, n in zip(steps, self.rows)]

    def block_views(self, buffer: Tensor, start: int, stop: int) -> list[Tensor]:
        """Per-step views of the gate blocks ``start:stop`` (in units of H) of ``buffer: (T, B, G*H)``."""
        return self.step_views(buffer[..., start * self.H : stop * self.H])

    def gate_views(self, buffer: Tensor, count: int) -> list[list[Tensor]]:
        """Per-step views of each of the first ``count`` gate blocks of ``buffer``, one list per gate."""
        return [self.block_views(buffer, k, k + 1) for k in range(count)]

    def row_views(self, state: Tensor) -> list[Tensor]:
        """Per-step views ``state[:rows[t]]`` of a carried ``(B, H)`` gradient."""
        if not self.packed:
            return [state] * self.T
        return [state[:n] for n in self.rows]

    def scratch_views(self) -> list[Tensor]:
        """Per-step row views of a fresh ``(B, H)`` buffer for a backward step's intermediate."""
        return self.row_views(self.P.new_empty(self.B, self.H))

    def forward_buffers(self) -> list[Tensor]:
        """Every buffer the forward filled and the backward reads (a CUDA graph restores them)."""
        names = ("P", "hs", "cs", "tc", "HH", "RH", "x_tm")
        return [getattr(self, name) for name in names if getattr(self, name, None) is not None]

    def prepare_forward(self) -> None:
        """The per-step views every forward step reads (``h_prev[t]``, ``h_new[t]`` and the cell's own)."""
        self.P_t = self.step_views(self.P)
        self.h_prev, self.h_new = self.step_views(self.hs), self.step_views(self.hs, 1)
        if self.has_cell_state:
            self.c_prev, self.c_new = self.step_views(self.cs), self.step_views(self.cs, 1)
            self.tc_t = self.step_views(self.tc)

    def prepare_backward(self) -> None:
        """The per-step views of the gradient buffers a backward step writes."""

    def forward(self) -> None:
        self.prepare_forward()
        for t in range(self.T):
            self.forward_step(t)

    def backward(self, d_outputs: Tensor | None, d_h: Tensor | None, d_c: Tensor | None,
                 last: Tensor | None = None) -> None:
        """BPTT, given the gradients of the outputs ``(B, T, H)`` and of the final states ``(B, H)``.

        All in length-sorted row order. A row's final state is its state after its last step, so
        its gradient joins the carried ``dh``/``dc`` at that step: found from ``rows``, or, when
        every row runs every step (masked), from ``last: (B,)``, each row's last step.
        """
        like = self.P
        self.dP = self.new_buffer(like.shape, dtype=like.dtype, device=like.device)
        self.dh = like.new_zeros(self.B, self.H)
        self.dc = like.new_zeros(self.B, self.H) if self.has_cell_state else None
        self.dP_t, self.dh_t = self.step_views(self.dP), self.row_views(self.dh)
        if self.has_cell_state:
            self.dc_t = self.row_views(self.dc)
        self.prepare_backward()
        d_out_t = None if d_outputs is None else self.step_views(d_outputs.transpose(0, 1))
        rows = self.rows + [0]
        ends = None
        if last is not None:  # per step (B, 1): 1 where a row takes its last step
            ends = (torch.arange(self.T, device=last.device)[:, None] == last[None, :]).to(like.dtype)
            ends = ends[..., None].unbind(0)
        for t in range(self.T - 1, -1, -1):
            n, ending = rows[t], rows[t + 1]  # rows ending..n-1 take their last step here
            if ends is not None:
                if d_h is not None:
                    self.dh.addcmul_(d_h, ends[t])
                if d_c is not None:
                    self.dc.addcmul_(d_c, ends[t])
            elif ending < n:
                if d_h is not None:
                    self.dh[ending:n].add_(d_h[ending:n])
                if d_c is not None:
                    self.dc[ending:n].add_(d_c[ending:n])
            if d_out_t is not None:
                self.dh_t[t].add_(d_out_t[t])
            self.backward_step(t)

    def weight_grads(self) -> dict[str, Tensor]:
        """Gradients of the recurrent weights as large products over all steps at once."""
        flat = self.dP.view(self.T * self.B, -1)
        return {"w_hh": flat.t() @ self.hs[:-1].reshape(self.T * self.B, self.H)}


class _ElmanLoop(_Loop):
    def forward_step(self, t):
        p = self.P_t[t]
        p.addmm_(self.h_prev[t], self.w_hh_t)
        if self.extra["relu"]:
            torch.clamp(p, min=0, out=self.h_new[t])
        else:
            torch.tanh(p, out=self.h_new[t])

    def backward_step(self, t):
        d, h_new, dh = self.dP_t[t], self.h_new[t], self.dh_t[t]
        if self.extra["relu"]:
            torch.mul(dh, h_new > 0, out=d)
        else:
            _tanh_backward(dh, h_new, grad_input=d)
        torch.mm(d, self.w_hh, out=dh)


class _LSTMLoop(_Loop):
    has_cell_state = True

    def allocate(self):
        self.tc = torch.empty_like(self.hs[1:])  # tanh(c_t), for h_t = o_t tanh(c_t)

    def prepare_forward(self):
        super().prepare_forward()
        self.if_t = self.block_views(self.P, 0, 2)  # i and f are adjacent: one kernel for both
        self.i_t, self.f_t, self.g_t, self.o_t = self.gate_views(self.P, 4)

    def prepare_backward(self):
        self.dif_t = self.block_views(self.dP, 0, 2)
        self.di_t, self.df_t, self.dg_t, self.do_t = self.gate_views(self.dP, 4)
        self.scratch_t = self.scratch_views()

    def forward_step(self, t):
        self.P_t[t].addmm_(self.h_prev[t], self.w_hh_t)
        self.if_t[t].sigmoid_()
        self.g_t[t].tanh_()
        self.o_t[t].sigmoid_()
        c, tc = self.c_new[t], self.tc_t[t]
        torch.mul(self.f_t[t], self.c_prev[t], out=c)
        c.addcmul_(self.i_t[t], self.g_t[t])
        torch.tanh(c, out=tc)
        torch.mul(self.o_t[t], tc, out=self.h_new[t])

    def backward_step(self, t):
        i, f, g, o = self.i_t[t], self.f_t[t], self.g_t[t], self.o_t[t]
        di, dg, do = self.di_t[t], self.dg_t[t], self.do_t[t]
        dh, dc, tc = self.dh_t[t], self.dc_t[t], self.tc_t[t]
        torch.mul(dh, tc, out=do)
        _sigmoid_grad_(do, o)
        dtc = torch.mul(dh, o, out=self.scratch_t[t])
        dc.add_(_tanh_grad_(dtc, tc))
        self.peep_back_from_output(dc, do)
        torch.mul(dc, g, out=di)
        torch.mul(dc, self.c_prev[t], out=self.df_t[t])
        _sigmoid_grad_(self.dif_t[t], self.if_t[t])
        torch.mul(dc, i, out=dg)
        _tanh_grad_(dg, g)
        dc.mul_(f)
        self.peep_back_from_input_forget(dc, self.dif_t[t])
        torch.mm(self.dP_t[t], self.w_hh, out=dh)

    # The peephole LSTM's extra paths into the cell state's gradient; the plain LSTM has none.
    def peep_back_from_output(self, dc: Tensor, do: Tensor) -> None:
        pass

    def peep_back_from_input_forget(self, dc: Tensor, d_if: Tensor) -> None:
        pass


class _CoupledLoop(_Loop):
    """Gate blocks f, g, o; i = 1 - f, so c_t = g + f (c_{t-1} - g)."""

    has_cell_state = True
    allocate = _LSTMLoop.allocate

    def prepare_forward(self):
        super().prepare_forward()
        self.f_t, self.g_t, self.o_t = self.gate_views(self.P, 3)

    def prepare_backward(self):
        self.df_t, self.dg_t, self.do_t = self.gate_views(self.dP, 3)
        self.scratch_t = self.scratch_views()

    def forward_step(self, t):
        self.P_t[t].addmm_(self.h_prev[t], self.w_hh_t)
        f, g, o = self.f_t[t], self.g_t[t], self.o_t[t]
        f.sigmoid_()
        g.tanh_()
        o.sigmoid_()
        c, tc = self.c_new[t], self.tc_t[t]
        torch.sub(self.c_prev[t], g, out=c)
        c.mul_(f).add_(g)
        torch.tanh(c, out=tc)
        torch.mul(o, tc, out=self.h_new[t])

    def backward_step(self, t):
        f, g, o = self.f_t[t], self.g_t[t], self.o_t[t]
        df, dg, do = self.df_t[t], self.dg_t[t], self.do_t[t]
        dh, dc, tc, scratch = self.dh_t[t], self.dc_t[t], self.tc_t[t], self.scratch_t[t]
        torch.mul(dh, tc, out=do)
        _sigmoid_grad_(do, o)
        dtc = torch.mul(dh, o, out=scratch)
        dc.add_(_tanh_grad_(dtc, tc))
        torch.sub(self.c_prev[t], g, out=df)  # dc_t/df = c_{t-1} - g
        df.mul_(dc)
        _sigmoid_grad_(df, f)
        dc_f = torch.mul(dc, f, out=scratch)  # the part that flows to c_{t-1}
        torch.sub(dc, dc_f, out=dg)  # dc_t/dg = 1 - f
        _tanh_grad_(dg, g)
        dc.copy_(dc_f)
        torch.mm(self.dP_t[t], self.w_hh, out=dh)


class _PeepholeLoop(_LSTMLoop):
    """Gate blocks i, f, g, o; i and f read c_{t-1}, o reads c_t, through ``w_ch: (3H, H)`` or ``(3H,)``.
    The backward step is the LSTM's plus the gradient the cell states get through the peepholes."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        H, w_ch = self.H, self.extra["w_ch"]
        self.full = w_ch.dim() == 2
        # i and f read the same c_{t-1}: ONE product with their two stacked blocks (2H, H).
        self.peep_if, self.peep_o = w_ch[: 2 * H], w_ch[2 * H :]
        if self.full:
            self.peep_if_t, self.peep_o_t = self.peep_if.t(), self.peep_o.t()
        else:  # (k*H,) as (k, H) rows, broadcast against c: (n, 1, H)
            self.peep_if_t, self.peep_o_t = self.peep_if.view(2, H), self.peep_o.view(1, H)

    def prepare_forward(self):
        super().prepare_forward()
        if not self.full:  # the diagonal's (n, k, H) views of the gate blocks, and c as (n, 1, H)
            self.if_kt = [block.view(-1, 2, self.H) for block in self.if_t]
            self.o_kt = [block.view(-1, 1, self.H) for block in self.o_t]
            self.c_prev_k = [c[:, None, :] for c in self.c_prev]
            self.c_new_k = [c[:, None, :] for c in self.c_new]

    def forward_step(self, t):
        self.P_t[t].addmm_(self.h_prev[t], self.w_hh_t)
        c_prev, c = self.c_prev[t], self.c_new[t]
        if self.full:
            self.if_t[t].addmm_(c_prev, self.peep_if_t)
        else:
            self.if_kt[t].addcmul_(self.c_prev_k[t], self.peep_if_t)
        self.if_t[t].sigmoid_()
        g, o, tc = self.g_t[t], self.o_t[t], self.tc_t[t]
        g.tanh_()
        torch.mul(self.f_t[t], c_prev, out=c)
        c.addcmul_(self.i_t[t], g)
        if self.full:
            o.addmm_(c, self.peep_o_t)
        else:
            self.o_kt[t].addcmul_(self.c_new_k[t], self.peep_o_t)
        o.sigmoid_()
        torch.tanh(c, out=tc)
        torch.mul(o, tc, out=self.h_new[t])

    def _peep_back_into(self, target: Tensor, d_gates: Tensor, weights: Tensor) -> None:
        """``target += `` the gradient a cell state receives through the peepholes of ``d_gates: (n, k*H)``."""
        if self.full:
            target.addmm_(d_gates, weights)
        else:
            for block in range(weights.shape[0] // self.H):
                target.addcmul_(d_gates[:, block * self.H : (block + 1) * self.H],
                                weights[block * self.H : (block + 1) * self.H])

    def peep_back_from_output(self, dc, do):
        self._peep_back_into(dc, do, self.peep_o)  # o_t reads c_t

    def peep_back_from_input_forget(self, dc, d_if):
        self._peep_back_into(dc, d_if, self.peep_if)  # i_t, f_t read c_{t-1}

    def weight_grads(self):
        grads = super().weight_grads()
        H, TB = self.H, self.T * self.B
        flat = self.dP.view(TB, 4 * H)  # column slices of it stay views: no copy of the gradients
        d_if, d_o = flat[:, : 2 * H], flat[:, 3 * H :]
        c_prev, c_new = self.cs[:-1].reshape(TB, H), self.cs[1:].reshape(TB, H)
        if self.full:
            grads["w_ch"] = torch.cat([d_if.t() @ c_prev, d_o.t() @ c_new])
        else:
            grads["w_ch"] = torch.cat([(d_if.view(TB, 2, H) * c_prev[:, None]).sum(0).reshape(2 * H),
                                       (d_o * c_new).sum(0)])
        return grads


class _GRUFamily(_Loop):
    """Gate blocks r, z, g: the per-step views both GRU forms step through."""

    def prepare_forward(self):
        super().prepare_forward()
        self.rz_t = self.block_views(self.P, 0, 2)
        self.r_t, self.z_t, self.g_t = self.gate_views(self.P, 3)

    def prepare_backward(self):
        self.drz_t = self.block_views(self.dP, 0, 2)
        self.dr_t, self.dz_t, self.dg_t = self.gate_views(self.dP, 3)
        self.scratch_t = self.scratch_views()


class _GRULoop(_GRUFamily):
    """PyTorch's form (reset_after): g = tanh(x_g + r * (W_hg h + b_hn)); h_t = g + z (h_{t-1} - g).

    ``HH[t] = W_hh h_{t-1} (+ b_hn on the candidate block)`` is kept, and ``dHH`` its gradient,
    so that ``dW_hh`` is one product at the end.
    """

    def allocate(self):
        self.HH = self.new_buffer(self.P.shape, dtype=self.P.dtype, device=self.P.device)
        b_hn = self.extra["b_hn"]
        self.hh_bias = None
        if b_hn is not None:
            self.hh_bias = torch.cat([b_hn.new_zeros(2 * self.H), b_hn])

    def prepare_forward(self):
        super().prepare_forward()
        self.HH_t, self.hh_rz_t, self.hh_g_t = (self.step_views(self.HH), self.block_views(self.HH, 0, 2),
                                                self.block_views(self.HH, 2, 3))

    def prepare_backward(self):
        super().prepare_backward()
        self.dHH_t, self.dhh_rz_t, self.dhh_g_t = (self.step_views(self.dHH), self.block_views(self.dHH, 0, 2),
                                                   self.block_views(self.dHH, 2, 3))

    def forward_step(self, t):
        hh, h = self.HH_t[t], self.h_prev[t]
        if self.hh_bias is None:
            torch.mm(h, self.w_hh_t, out=hh)
        else:
            torch.addmm(self.hh_bias, h, self.w_hh_t, out=hh)
        self.rz_t[t].add_(self.hh_rz_t[t]).sigmoid_()
        g, h_new = self.g_t[t], self.h_new[t]
        g.addcmul_(self.r_t[t], self.hh_g_t[t]).tanh_()
        torch.sub(h, g, out=h_new)
        h_new.mul_(self.z_t[t]).add_(g)

    def backward_step(self, t):
        r, z, g = self.r_t[t], self.z_t[t], self.g_t[t]
        dr, dz, dg = self.dr_t[t], self.dz_t[t], self.dg_t[t]
        dh, h = self.dh_t[t], self.h_prev[t]
        dh_z = torch.mul(dh, z, out=self.scratch_t[t])  # flows straight to h_{t-1}
        torch.sub(dh, dh_z, out=dg)  # dh_t/dg = 1 - z
        _tanh_grad_(dg, g)
        torch.mul(dg, r, out=self.dhh_g_t[t])
        torch.mul(dg, self.hh_g_t[t], out=dr)
        torch.sub(h, g, out=dz)  # dh_t/dz = h_{t-1} - g
        dz.mul_(dh)
        d_rz = self.drz_t[t]
        _sigmoid_grad_(d_rz, self.rz_t[t])
        self.dhh_rz_t[t].copy_(d_rz)
        torch.mm(self.dHH_t[t], self.w_hh, out=dh)
        dh.add_(dh_z)

    def backward(self, *grads, **options):
        self.dHH = self.new_buffer(self.P.shape, dtype=self.P.dtype, device=self.P.device)
        super().backward(*grads, **options)

    def weight_grads(self):
        TB = self.T * self.B
        grads = {"w_hh": self.dHH.view(TB, -1).t() @ self.hs[:-1].reshape(TB, self.H)}
        if self.extra["b_hn"] is not None:
            grads["b_hn"] = self.dHH[..., 2 * self.H :].sum(dim=(0, 1))
        return grads


class _TextbookGRULoop(_GRUFamily):
    """Cho et al.'s form: g = tanh(x_g + W_hg (r * h_{t-1})); ``RH[t] = r_t * h_{t-1}`` is kept."""

    def allocate(self):
        H = self.H
        self.RH = self.new_buffer(self.hs[1:].shape, dtype=self.P.dtype, device=self.P.device)
        self.w_rz, self.w_g = self.w_hh[: 2 * H], self.w_hh[2 * H :]
        self.w_rz_t, self.w_g_t = self.w_rz.t(), self.w_g.t()

    def prepare_forward(self):
        super().prepare_forward()
        self.RH_t = self.step_views(self.RH)

    def prepare_backward(self):
        super().prepare_backward()
        self.d_rh_t = self.scratch_views()

    def forward_step(self, t):
        h, rz, rh, g = self.h_prev[t], self.rz_t[t], self.RH_t[t], self.g_t[t]
        rz.addmm_(h, self.w_rz_t).sigmoid_()
        torch.mul(self.r_t[t], h, out=rh)
        g.addmm_(rh, self.w_g_t).tanh_()
        h_new = self.h_new[t]
        torch.sub(h, g, out=h_new)
        h_new.mul_(self.z_t[t]).add_(g)

    def backward_step(self, t):
        r, z, g = self.r_t[t], self.z_t[t], self.g_t[t]
        dr, dz, dg = self.dr_t[t], self.dz_t[t], self.dg_t[t]
        dh, h = self.dh_t[t], self.h_prev[t]
        dh_z = torch.mul(dh, z, out=self.scratch_t[t])
        torch.sub(dh, dh_z, out=dg)
        _tanh_grad_(dg, g)
        d_rh = torch.mm(dg, self.w_g, out=self.d_rh_t[t])  # the gradient of r * h_{t-1}
        torch.mul(d_rh, h, out=dr)
        torch.sub(h, g, out=dz)
        dz.mul_(dh)
        d_rz = self.drz_t[t]
        _sigmoid_grad_(d_rz, self.rz_t[t])
        torch.mm(d_rz, self.w_rz, out=dh)
        dh.addcmul_(d_rh, r).add_(dh_z)

    def weight_grads(self):
        H, TB = self.H, self.T * self.B
        flat = self.dP.view(TB, 3 * H)
        d_rz, d_g = flat[:, : 2 * H], flat[:, 2 * H :]
        h_prev = self.hs[:-1].reshape(TB, H)
        return {"w_hh": torch.cat([d_rz.t() @ h_prev, d_g.t() @ self.RH.view(TB, H)])}


def _loop_class(cell) -> type[_Loop] | None:
    """The loop for an exact course cell class (a subclass may redefine ``step``), else None."""
    kind = type(cell)
    if kind is _cells.ElmanCell:
        return _ElmanLoop
    if kind is _cells.LSTMCell:
        return _LSTMLoop
    if kind is _cells.CoupledLSTMCell:
        return _CoupledLoop
    if kind is _cells.PeepholeLSTMCell:
        return _PeepholeLoop
    if kind is _cells.GRUCell:
        return _GRULoop if cell.reset_after else _TextbookGRULoop
    return None


def supports(cell, x: Tensor) -> bool:
    """Whether :func:`unroll` can run this cell on this input (else the readable loop runs)."""
    if _loop_class(cell) is None or not x.is_floating_point():
        return False
    if x.dtype != cell.weight_hh.dtype or x.device != cell.weight_hh.device:
        return False
    # Under autocast the readable loop's products run in low precision; ours would not follow.
    return not torch.is_autocast_enabled(x.device.type)


class _Unroll(torch.autograd.Function):
    """Forward and hand-written backward of a whole unroll, input projection included.

    Inputs: ``x: (B, T, I)``, ``w_ih: (G*H, I)``, ``bias: (G*H,)`` or None (every bias outside the
    nonlinearities, summed), ``h0, c0: (B, H)`` (c0 None without a cell state), ``w_hh: (G*H, H)``,
    ``w_ch`` (peephole) and ``b_hn: (H,)`` (the GRU's bias inside the reset) or None.
    Outputs: ``outputs: (B, T, H)``, ``h_T`` and, with a cell state, ``c_T`` (each ``(B, H)``).
    """

    @staticmethod
    def forward(ctx, plan, x, w_ih, bias, h0, c0, w_hh, w_ch, b_hn):
        loop, outputs = run_forward(plan, x, w_ih, bias, h0, c0, w_hh, w_ch, b_hn)
        ctx.loop, ctx.plan = loop, plan
        # Saved through autograd too, so that changing a weight in place before backward is an error.
        ctx.save_for_backward(w_ih, w_hh, w_ch, b_hn)
        return outputs

    @staticmethod
    @once_differentiable
    def backward(ctx, d_outputs, d_h, d_c=None):
        ctx.saved_tensors  # noqa: B018 -- raises if a weight changed in place since forward
        grads = run_backward(ctx.loop, ctx.plan, d_outputs, d_h, d_c, ctx.needs_input_grad[1:])
        return (None, *grads)


def run_forward(plan, x, w_ih, bias, h0, c0, w_hh, w_ch, b_hn) -> tuple[_Loop, tuple[Tensor, ...]]:
    """The forward of :class:`_Unroll`: the loop with its buffers, and (outputs, h_T[, c_T])."""
    order = plan.order
    B, T, I = x.shape
    if order is not None:  # packed: the longest sequences first
        x, h0 = x.index_select(0, order), h0.index_select(0, order)
        c0 = None if c0 is None else c0.index_select(0, order)
    x_tm = x.transpose(0, 1).contiguous()  # (T, B, I): a step's rows are contiguous
    P = torch.empty(T, B, w_ih.shape[0], dtype=x.dtype, device=x.device)
    # The input term of every step in ONE product, written where the steps will read it.
    if bias is None:
        torch.mm(x_tm.view(T * B, I), w_ih.t(), out=P.view(T * B, -1))
    else:
        torch.addmm(bias, x_tm.view(T * B, I), w_ih.t(), out=P.view(T * B, -1))
    loop = plan.loop_class(P, h0, c0, w_hh, {"w_ch": w_ch, "b_hn": b_hn, "relu": plan.relu}, plan.rows)
    loop.forward()
    loop.x_tm, loop.w_ih, loop.has_c0 = x_tm, w_ih, c0 is not None
    return loop, _gather_outputs(loop, plan)


def run_backward(loop: _Loop, plan, d_outputs, d_h, d_c, needs) -> tuple:
    """The backward of :class:`_Unroll`: gradients of (x, w_ih, bias, h0, c0, w_hh, w_ch, b_hn).

    ``needs``: which of those want a gradient (the products for the others are skipped).
    """
    order, inverse = plan.order, plan.inverse
    T, B = loop.T, loop.B

    def sort(grad):
        return grad if order is None or grad is None else grad.index_select(0, order)

    def unsort(grad):
        return grad if inverse is None else grad.index_select(0, inverse)

    last = None
    if plan.masked:
        last = plan.lengths - 1
        if d_outputs is not None:  # the outputs past each length were zeroed: no gradient flows there
            d_outputs = d_outputs * _mask(plan.lengths, T)
    loop.backward(sort(d_outputs), sort(d_h), sort(d_c), last=last)
    grads = loop.weight_grads()
    dP = loop.dP.view(T * B, -1)
    d_x = unsort((dP @ loop.w_ih).view(T, B, -1).transpose(0, 1)) if needs[0] else None
    d_w_ih = dP.t() @ loop.x_tm.view(T * B, -1) if needs[1] else None
    d_bias = dP.sum(dim=0) if needs[2] else None
    d_h0 = unsort(loop.dh)
    d_c0 = unsort(loop.dc) if loop.has_c0 else None
    loop.dP = loop.dh = loop.dc = loop.dHH = None  # the forward's buffers stay: backward may run again
    return d_x, d_w_ih, d_bias, d_h0, d_c0, grads["w_hh"], grads.get("w_ch"), grads.get("b_hn")


def _mask(lengths: Tensor, T: int) -> Tensor:
    """``(B, T, 1)``: 1 at the real steps of each sequence, 0 at its padding."""
    return (torch.arange(T, device=lengths.device)[None, :] < lengths[:, None])[..., None]


def _gather_outputs(loop: _Loop, plan: Plan):
    """Outputs ``(B, T, H)``, zero at padded steps, and the final states."""
    def unsort(tensor):
        return tensor if plan.inverse is None else tensor.index_select(0, plan.inverse)

    states = [loop.hs] + ([loop.cs] if loop.has_cell_state else [])
    if plan.lengths is None:
        finals = [s[loop.T] for s in states]
    else:  # each sequence's state after its own last step
        batch = torch.arange(loop.B, device=loop.P.device)
        finals = [s[plan.lengths, batch] for s in states]
    outputs = unsort(loop.hs[1:].transpose(0, 1))  # packed: padded steps never ran, still zeros
    if plan.masked:
        outputs = torch.where(_mask(plan.lengths, loop.T), outputs, 0)
    return (outputs.contiguous(), *[unsort(f).clone() for f in finals])


def unroll(cell, x: Tensor, lengths: Tensor | None, state, masked: bool | None = None) -> tuple[Tensor, object]:
    """:func:`course_lib.cells.unroll` without gates, through :class:`_Unroll`.

    ``x: (B, T, I)``; ``lengths: (B,)`` checked by the caller, or None; ``state``: ``h`` or
    ``(h, c)`` each ``(B, H)``, or None. Returns ``outputs: (B, T, H)`` and the final state.
    ``masked``: how a padded batch runs (see :class:`Plan`); None = :data:`MASKED`, whose default
    is masked on CUDA where graphs can replay it, packed elsewhere (packing skips the padded steps' work).
    """
    loop_class = _loop_class(cell)
    B, T, _ = x.shape
    H = cell.hidden_size
    b_hn = bias = None
    if cell.num_biases == 1:
        bias = cell.bias
    elif cell.num_biases == 2:
        bias_hh = cell.bias_hh
        if loop_class is _GRULoop:
            # PyTorch's GRU: the candidate's b_hn sits inside the reset, r * (W_hn h + b_hn).
            b_hn = bias_hh[2 * H :]
            bias_hh = torch.cat([bias_hh[: 2 * H], bias_hh.new_zeros(H)])
        bias = cell.bias_ih + bias_hh  # outside every nonlinearity: both add to the input term
    if state is None:
        state = cell.init_state(B, like=x)
    h0, c0 = state if loop_class.has_cell_state else (state, None)
    relu = loop_class is _ElmanLoop and cell.nonlinearity == "relu"
    plan = Plan(loop_class, relu, [B] * T)
    # Graphs pay off in training, where one shape repeats batch after batch; evaluation (no
    # gradient) often sees a new length every batch and runs eagerly.
    from course_lib import graphed

    inputs = [x, h0, *cell.parameters()] + ([] if c0 is None else [c0])
    graphs = x.is_cuda and graphed.ENABLED and torch.is_grad_enabled() and any(t.requires_grad for t in inputs)
    if masked is None:
        masked = MASKED
    if masked is None:
        # Not for a ReLU RNN: its padded steps, run anyway, could overflow to inf (and inf * 0 = nan).
        masked = graphs and not relu
    if lengths is not None:
        lengths = lengths.long()  # an index below, whatever integer type came in
        if masked:
            plan = plan._replace(lengths=lengths, masked=True)  # no sorting, no host sync: fixed shapes
        else:
            order = torch.argsort(lengths, descending=True, stable=True)
            lengths_sorted = lengths.index_select(0, order)
            sorted_list = lengths_sorted.tolist()  # one host sync for the whole sequence
            if sorted_list[-1] < T:  # else nothing is padded
                rows = [sum(1 for length in sorted_list if length > t) for t in range(T)]
                plan = plan._replace(rows=rows, lengths=lengths_sorted, order=order, inverse=torch.argsort(order))
    w_ch = cell.weight_ch if loop_class is _PeepholeLoop else None
    tensors = (x, cell.weight_ih, bias, h0, c0, cell.weight_hh, w_ch, b_hn)
    results = None
    if graphs and plan.order is None:  # fixed shapes, nothing packed: one CUDA graph can replay it all
        results = graphed.unroll(plan, tensors)
    if results is None:
        results = _Unroll.apply(plan, *tensors)
    if loop_class.has_cell_state:
        outputs, h, c = results
        return outputs, (h, c)
    outputs, h = results
    return outputs, h
