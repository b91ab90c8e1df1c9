"""Hand-written backpropagation through time for the LSTM variants PyTorch's fused kernel cannot run.

``nn.LSTM``'s kernel knows one LSTM: tanh activations, no peephole connections, no cell clipping.
Stepping any other variant under autograd records a dozen small nodes per time step and replays them
one by one in the backward pass, which is what makes a peephole LSTM half as fast as ``nn.LSTM``.
:func:`lstm_layer` instead runs the recurrence without a graph, keeps the gate activations, and
computes all gradients in one backward pass that per time step does one matmul and four elementwise
operations: every factor that does not depend on the incoming gradient is computed for the whole
sequence before the time loop, and the input projections and weight gradients of all steps are one
matmul each.

Equations, per step (``*`` elementwise; peephole weights ``p_i, p_f, p_o`` are zero for a plain LSTM)::

    i = sigmoid(a_i + p_i * c_prev)    f = sigmoid(a_f + p_f * c_prev)    g = act(a_g)
    c = clip(f * c_prev + i * g)       o = sigmoid(a_o + p_o * c)         h = o * act(c)

where ``a = x W_ih^T + b + h_prev W_hh^T`` holds the four gate pre-activations in the order i, f, g, o.
"""

from __future__ import annotations

import torch
from torch.autograd.function import once_differentiable

#: Activations for the cell input ``g`` and the cell output ``act(c)``.
ACTIVATIONS: tuple[str, ...] = ("relu", "softsign", "tanh")


def activate(x: torch.Tensor, activation: str) -> torch.Tensor:
    """``activation(x)`` as a new tensor, recorded by autograd (the step path)."""
    if activation == "tanh":
        return torch.tanh(x)
    if activation == "relu":
        return torch.relu(x)
    return torch.nn.functional.softsign(x)


#: From this many elements on, tanh is computed as ``2 * sigmoid(2x) - 1``: PyTorch's CPU sigmoid is
#: vectorised far better than its tanh, and the identity holds to float rounding.
_TANH_BY_SIGMOID_FROM = 2048


def _activate_(x: torch.Tensor, activation: str) -> torch.Tensor:
    """``activation(x)`` in place (no graph is recorded inside the autograd Function)."""
    if activation == "tanh":
        if x.numel() < _TANH_BY_SIGMOID_FROM:
            return x.tanh_()
        return x.mul_(2.0).sigmoid_().mul_(2.0).sub_(1.0)
    if activation == "relu":
        return x.relu_()
    return x.div_(x.abs().add_(1.0))


def _activate_into(x: torch.Tensor, activation: str, out: torch.Tensor) -> torch.Tensor:
    """``activation(x)`` written into ``out``."""
    if activation == "tanh":
        if x.numel() < _TANH_BY_SIGMOID_FROM:
            return torch.tanh(x, out=out)
        return torch.mul(x, 2.0, out=out).sigmoid_().mul_(2.0).sub_(1.0)
    if activation == "relu":
        return torch.clamp_min(x, 0.0, out=out)
    return torch.div(x, x.abs().add_(1.0), out=out)


def _activation_slope(y: torch.Tensor, activation: str) -> torch.Tensor:
    """The activation's derivative at ``x``, written in terms of its output ``y = activation(x)``."""
    if activation == "tanh":
        return torch.mul(y, y).neg_().add_(1.0)
    if activation == "relu":
        return (y > 0).to(y.dtype)
    return (1.0 - y.abs()).square_()


class _Layout:
    """Where the per-step tensors live: logically ``(time, batch, features)``, physically either that or
    ``(features, time, batch)``.

    The code indexes every tensor logically. When the batch is wider than the hidden size the buffers
    are stored feature-major, so that the rows of each gate run along the batch and elementwise kernels
    vectorise over long rows even for a hidden size of 10; PyTorch's kernels follow the strides, so
    only the allocation differs. In both layouts ``(time, batch)`` flattens into one dimension without
    a copy, which lets the input projection and the weight gradients each be one matmul.
    """

    def __init__(self, like: torch.Tensor, steps: int, batch: int, hidden: int):
        self.like, self.steps, self.batch = like, steps, batch
        self.feature_major = batch > hidden

    def buffer(self, width: int, extra_steps: int = 0, dtype: torch.dtype | None = None) -> torch.Tensor:
        """An uninitialised ``(time + extra_steps, batch, width)`` tensor in this layout."""
        steps = self.steps + extra_steps
        if self.feature_major:
            return self.like.new_empty(width, steps, self.batch, dtype=dtype).permute(1, 2, 0)
        return self.like.new_empty(steps, self.batch, width, dtype=dtype)

    def step_buffer(self, width: int) -> torch.Tensor:
        """An uninitialised ``(batch, width)`` tensor in this layout (mixing layouts slows every kernel)."""
        if self.feature_major:
            return self.like.new_empty(width, self.batch).t()
        return self.like.new_empty(self.batch, width)


def _flat(tensor: torch.Tensor) -> torch.Tensor:
    """A logical ``(time, batch, features)`` buffer as ``(time * batch, features)``; a view, never a copy."""
    return tensor.view(-1, tensor.shape[2])


class _LSTMLayer(torch.autograd.Function):
    """One LSTM layer over a whole sequence, input projection included, with a hand-written backward."""

    @staticmethod
    def forward(ctx, inputs, h0, c0, weight_ih, weight_hh, bias_ih, bias_hh, peephole, options):
        forget_bias, activation, cell_clip = options
        batch, steps, _ = inputs.shape
        hidden = weight_hh.shape[1]
        layout = _Layout(inputs, steps, batch, hidden)
        gates = layout.buffer(4 * hidden)  # pre-activations, then the activations i, f, g, o in place
        cells = layout.buffer(hidden, extra_steps=1)  # c_0 .. c_T, clipped
        hiddens = layout.buffer(hidden, extra_steps=1)  # h_0 .. h_T
        activated = layout.buffer(hidden)  # act(c_1) .. act(c_T)
        inside_clip = layout.buffer(hidden, dtype=torch.bool) if cell_clip is not None else None
        # The input side of every step in one matmul, written straight into the gate buffer.
        bias = bias_ih + bias_hh
        if forget_bias:
            bias.narrow(0, hidden, hidden).add_(forget_bias)
        time_major_inputs = inputs.transpose(0, 1).reshape(-1, inputs.shape[2])
        torch.addmm(bias, time_major_inputs, weight_ih.t(), out=_flat(gates))

        # Per-step views, made once: indexing a tuple costs nothing, slicing a tensor does.
        gate_steps = gates.unbind(0)
        gates4 = gates.view(steps, batch, 4, hidden)
        input_forget = gates4.narrow(2, 0, 2).unbind(0)
        input_gate, forget_gate, cell_input, output_gate = (gate.unbind(0) for gate in gates4.unbind(2))
        cell_steps, hidden_steps, activated_steps = cells.unbind(0), hiddens.unbind(0), activated.unbind(0)
        previous_cells = cells.narrow(0, 0, steps).unsqueeze(2).unbind(0)  # (batch, 1, hidden), for i and f
        cell_steps[0].copy_(c0)
        hidden_steps[0].copy_(h0)
        weight_hh_t = weight_hh.t()
        if peephole is not None:
            peephole_input_forget, peephole_output = peephole[:2], peephole[2]

        for t in range(steps):
            gate_steps[t].addmm_(hidden_steps[t], weight_hh_t)
            c_prev, c = cell_steps[t], cell_steps[t + 1]
            if peephole is not None:
                input_forget[t].addcmul_(peephole_input_forget, previous_cells[t])
            input_forget[t].sigmoid_()
            _activate_(cell_input[t], activation)
            torch.mul(forget_gate[t], c_prev, out=c)
            c.addcmul_(input_gate[t], cell_input[t])
            if inside_clip is not None:
                torch.le(c.abs(), cell_clip, out=inside_clip[t])
                c.clamp_(-cell_clip, cell_clip)
            if peephole is not None:
                output_gate[t].addcmul_(peephole_output, c)
            output_gate[t].sigmoid_()
            torch.mul(output_gate[t], _activate_into(c, activation, activated_steps[t]), out=hidden_steps[t + 1])

        ctx.activation = activation
        ctx.save_for_backward(
            time_major_inputs, weight_ih, weight_hh, peephole, gates, cells, hiddens, activated, inside_clip
        )
        return hiddens[1:].transpose(0, 1), hiddens[-1].clone(), cells[-1].clone()

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_outputs, grad_h, grad_c):
        saved = ctx.saved_tensors
        time_major_inputs, weight_ih, weight_hh, peephole, gates, cells, hiddens, activated, inside_clip = saved
        activation = ctx.activation
        steps, batch, width = gates.shape
        hidden = width // 4
        layout = _Layout(gates, steps, batch, hidden)
        gates4 = gates.view(steps, batch, 4, hidden)
        input_gate, forget_gate, cell_input, output_gate = gates4.unbind(2)
        previous_cells, new_cells = cells.narrow(0, 0, steps), cells.narrow(0, 1, steps)

        # Everything that does not depend on the incoming gradient, for the whole sequence at once.
        input_forget = gates4.narrow(2, 0, 2)
        input_forget_slope = torch.addcmul(input_forget, input_forget, input_forget, value=-1.0)
        output_slope = torch.addcmul(output_gate, output_gate, output_gate, value=-1.0)
        # dL/dc_t -> dL/d(a_i, a_f, a_g) at step t
        to_gates = layout.buffer(3 * hidden).view(steps, batch, 3, hidden)
        to_input, to_forget, to_cell_input = to_gates.unbind(2)
        input_slope, forget_slope = input_forget_slope.unbind(2)
        torch.mul(input_slope, cell_input, out=to_input)
        torch.mul(forget_slope, previous_cells, out=to_forget)
        torch.mul(input_gate, _activation_slope(cell_input, activation), out=to_cell_input)
        # dL/dh_t -> dL/da_o, and -> dL/dc_t (through act(c) and through the output gate's peephole)
        to_output = activated * output_slope
        to_cell = output_gate * _activation_slope(activated, activation)
        # dL/dc_t -> dL/dc_{t-1} (through the forget gate and the input and forget peepholes)
        carry = forget_gate
        if peephole is not None:
            to_cell.addcmul_(to_output, peephole[2])
            carry = torch.addcmul(forget_gate, to_input, peephole[0])
            carry.addcmul_(to_forget, peephole[1])
        through = carry.narrow(0, 1, steps - 1)
        grad_cell = layout.step_buffer(hidden).copy_(grad_c)
        if inside_clip is not None:
            # The clamp passes gradient only where the unclipped cell was inside [-clip, clip].
            inside = inside_clip.to(gates.dtype)
            to_cell.mul_(inside)
            through = through * inside.narrow(0, 0, steps - 1)
            grad_cell.mul_(inside[-1])

        grad_gates = torch.empty_like(gates)
        grad_gate_steps = grad_gates.unbind(0)
        grad_gates4 = grad_gates.view(steps, batch, 4, hidden)
        grad_output_gate = grad_gates4.select(2, 3).unbind(0)
        grad_input_forget_cell = grad_gates4.narrow(2, 0, 3).unbind(0)
        grad_output_steps = grad_outputs.unbind(1)
        to_output_steps, to_cell_steps, through_steps = to_output.unbind(0), to_cell.unbind(0), through.unbind(0)
        to_gates_steps = to_gates.unbind(0)

        grad_hidden = torch.add(grad_output_steps[-1], grad_h, out=layout.step_buffer(hidden))
        for t in range(steps - 1, -1, -1):
            if t < steps - 1:
                torch.addmm(grad_output_steps[t], grad_gate_steps[t + 1], weight_hh, out=grad_hidden)
                grad_cell.mul_(through_steps[t])
            torch.mul(grad_hidden, to_output_steps[t], out=grad_output_gate[t])
            grad_cell.addcmul_(grad_hidden, to_cell_steps[t])
            torch.mul(to_gates_steps[t], grad_cell.unsqueeze(1), out=grad_input_forget_cell[t])

        needs = ctx.needs_input_grad
        flat_grad_gates = _flat(grad_gates)
        grad_inputs = (flat_grad_gates @ weight_ih).view(steps, batch, -1).transpose(0, 1) if needs[0] else None
        grad_h0 = grad_gate_steps[0] @ weight_hh if needs[1] else None
        grad_c0 = grad_cell.mul_(carry[0]) if needs[2] else None
        grad_weight_ih = flat_grad_gates.t() @ time_major_inputs if needs[3] else None
        grad_weight_hh = flat_grad_gates.t() @ _flat(hiddens.narrow(0, 0, steps)) if needs[4] else None
        grad_bias = flat_grad_gates.sum(0) if needs[5] or needs[6] else None
        grad_bias_ih = grad_bias if needs[5] else None
        # Two leaves must not share one gradient tensor: accumulating into one would change the other.
        grad_bias_hh = (grad_bias.clone() if needs[5] else grad_bias) if needs[6] else None
        grad_peephole = None
        if peephole is not None and needs[7]:
            grad_input_forget = (grad_gates4.narrow(2, 0, 2) * previous_cells.unsqueeze(2)).sum((0, 1))
            grad_output_peephole = (grad_gates4.select(2, 3) * new_cells).sum((0, 1))
            grad_peephole = torch.cat((grad_input_forget, grad_output_peephole.unsqueeze(0)))
        return (
            grad_inputs,
            grad_h0,
            grad_c0,
            grad_weight_ih,
            grad_weight_hh,
            grad_bias_ih,
            grad_bias_hh,
            grad_peephole,
            None,
        )


def lstm_layer(
    inputs: torch.Tensor,
    state: tuple[torch.Tensor, torch.Tensor],
    weights: tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor],
    peephole: torch.Tensor | None = None,
    forget_bias: float = 0.0,
    activation: str = "tanh",
    cell_clip: float | None = None,
) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
    """Run one LSTM layer over a whole sequence with the hand-written backward.

    :param inputs: ``(batch, time, input)``.
    :param state: ``(h, c)``, each ``(batch, hidden)``.
    :param weights: ``(weight_ih, weight_hh, bias_ih, bias_hh)`` laid out like ``nn.LSTM``'s
        (``(4 * hidden, input)``, ``(4 * hidden, hidden)``, ``(4 * hidden,)`` twice; gates i, f, g, o).
    :param peephole: ``(3, hidden)`` diagonal peephole weights for the i, f and o gates, or ``None``.
    :param forget_bias: added to the forget gate's pre-activation (not to any parameter).
    :param activation: one of :data:`ACTIVATIONS`, for the cell input and the cell output.
    :param cell_clip: clamp the cell state to ``[-cell_clip, cell_clip]`` after each update, or ``None``.
    :returns: the hidden states ``(batch, time, hidden)`` and the final ``(h, c)``.
    """
    if activation not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {', '.join(ACTIVATIONS)}; got {activation!r}")
    options = (float(forget_bias), activation, cell_clip)
    outputs, h, c = _LSTMLayer.apply(inputs, state[0], state[1], *weights, peephole, options)
    return outputs, (h, c)
