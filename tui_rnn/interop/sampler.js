/* tui-rnn's sampler in plain JavaScript: a port of tui_rnn/training/sampling.py and of the
 * cells' one-step arithmetic (tui_rnn/cells/), in float64.
 *
 * generateText(model, prompt, length, temperature, topP, seed) is `tui-rnn generate`: the
 * prompt primes the state from zero on all but its last character, the model continues from
 * that last character (an empty prompt starts from a newline, else the first character of the
 * vocabulary), temperature 0 takes the likeliest character (the lowest index on a tie), and
 * otherwise p = softmax((o - max o) / T) cut to its top-p nucleus, drawn by inverse CDF from
 * one uniform number of NumPy's PCG64 seeded as np.random.PCG64(seed) is (SeedSequence), so
 * the same seed draws the same numbers. Sums are NumPy's (pairwise for np.sum, running for
 * np.cumsum); sigma(a) = (1 + tanh(a / 2)) / 2 as the cells compute it.
 *
 * The same file runs in a page (window.TuiRnnSampler) and under Node (module.exports). It
 * never touches the network.
 */
"use strict";

(function (root) {
  // -- the model: weights from base64 little-endian floats, views per parameter --------------
  function decodeFloats(base64, dtype) {
    const binary = atob(base64);
    const bytes = new Uint8Array(binary.length);
    for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
    const view = new DataView(bytes.buffer);
    const size = dtype === "float32" ? 4 : 8;
    const values = new Float64Array(bytes.length / size);
    for (let i = 0; i < values.length; i++) {
      values[i] = size === 4 ? view.getFloat32(4 * i, true) : view.getFloat64(8 * i, true);
    }
    return values;
  }

  function loadModel(description) {
    const flat = decodeFloats(description.weights, description.dtype);
    const tensor = (entry) => {
      const [offset, rows, cols] = entry;
      return { data: flat.subarray(offset, offset + rows * cols), rows: rows, cols: cols };
    };
    const vocabulary = description.vocabulary;
    const index = new Map();
    vocabulary.forEach((ch, i) => index.set(ch, i));
    return {
      cell: description.cell,
      hidden: description.hidden,
      vocabulary: vocabulary,
      index: index,
      layers: description.layers.map((layer) => ({
        W_x: tensor(layer.W_x),
        W_h: tensor(layer.W_h),
        b: tensor(layer.b),
      })),
      V: tensor(description.V),
      c: tensor(description.c),
    };
  }

  // out[i] = sum_j M[i, j] v[j] for rows [first, first + count) of M
  function matvec(M, v, first, count, out) {
    const cols = M.cols;
    const data = M.data;
    for (let i = 0; i < count; i++) {
      let sum = 0.0;
      const row = (first + i) * cols;
      for (let j = 0; j < cols; j++) sum += data[row + j] * v[j];
      out[i] = sum;
    }
    return out;
  }

  function sigmoid(a) {
    return (Math.tanh(a * 0.5) * 0.5) + 0.5;
  }

  function zeroState(model) {
    const m = model.hidden;
    return model.layers.map(() => ({
      h: new Float64Array(m),
      c: model.cell === "lstm" ? new Float64Array(m) : null,
    }));
  }

  // One step of every layer for input id x; returns the logits (a new array).
  function step(model, state, x) {
    const m = model.hidden;
    let below = null;
    for (let l = 0; l < model.layers.length; l++) {
      const { W_x, W_h, b } = model.layers[l];
      const rows = W_h.rows;
      const inp = new Float64Array(rows);
      if (l === 0) {
        for (let i = 0; i < rows; i++) inp[i] = W_x.data[i * W_x.cols + x];
      } else {
        matvec(W_x, below, 0, rows, inp);
      }
      const s = state[l];
      if (model.cell === "rnn") {
        const a = matvec(W_h, s.h, 0, rows, new Float64Array(rows));
        for (let i = 0; i < m; i++) s.h[i] = Math.tanh(a[i] + inp[i] + b.data[i]);
      } else if (model.cell === "lstm") {
        // gate blocks i, f, o, g
        const a = matvec(W_h, s.h, 0, rows, new Float64Array(rows));
        for (let i = 0; i < rows; i++) a[i] = a[i] + inp[i] + b.data[i];
        for (let k = 0; k < m; k++) {
          const gi = sigmoid(a[k]);
          const gf = sigmoid(a[m + k]);
          const go = sigmoid(a[2 * m + k]);
          const gg = Math.tanh(a[3 * m + k]);
          const c = gf * s.c[k] + gi * gg;
          s.c[k] = c;
          s.h[k] = go * Math.tanh(c);
        }
      } else {
        // gru: gate blocks r, z, n; the reset gate acts before the recurrent product
        const xw = new Float64Array(rows);
        for (let i = 0; i < rows; i++) xw[i] = inp[i] + b.data[i];
        const rz = matvec(W_h, s.h, 0, 2 * m, new Float64Array(2 * m));
        for (let i = 0; i < 2 * m; i++) rz[i] = sigmoid(rz[i] + xw[i]);
        const rh = new Float64Array(m);
        for (let k = 0; k < m; k++) rh[k] = rz[k] * s.h[k];
        const n = matvec(W_h, rh, 2 * m, m, new Float64Array(m));
        for (let k = 0; k < m; k++) {
          const candidate = Math.tanh(n[k] + xw[2 * m + k]);
          s.h[k] = (s.h[k] - candidate) * rz[m + k] + candidate;
        }
      }
      below = s.h;
    }
    const logits = matvec(model.V, below, 0, model.V.rows, new Float64Array(model.V.rows));
    for (let i = 0; i < logits.length; i++) logits[i] += model.c.data[i];
    return logits;
  }

  // -- NumPy's random numbers: SeedSequence, PCG64, Generator.random() -----------------------
  const MASK32 = 0xffffffffn;
  const MASK64 = (1n << 64n) - 1n;
  const MASK128 = (1n << 128n) - 1n;
  const PCG_MULTIPLIER = (2549297995355413924n << 64n) + 4865540595714422341n;

  function mul32(a, b) {
    return (a * b) & MASK32;
  }

  function hashmix(value, hashConst) {
    value ^= hashConst.value;
    hashConst.value = mul32(hashConst.value, 0x931e8875n);
    value = mul32(value, hashConst.value);
    return value ^ (value >> 16n);
  }

  function mix(x, y) {
    let result = (mul32(0xca01f9ddn, x) - mul32(0x4973f715n, y)) & MASK32;
    return result ^ (result >> 16n);
  }

  // np.random.SeedSequence(seed).generate_state(4, np.uint64), seed a whole number >= 0
  function seedSequenceState(seed) {
    const entropy = [];
    let rest = BigInt(seed);
    do {
      entropy.push(rest & MASK32);
      rest >>= 32n;
    } while (rest > 0n);
    const pool = [0n, 0n, 0n, 0n];
    const hashConst = { value: 0x43b0d7e5n };
    for (let i = 0; i < pool.length; i++) {
      pool[i] = hashmix(i < entropy.length ? entropy[i] : 0n, hashConst);
    }
    for (let src = 0; src < pool.length; src++) {
      for (let dst = 0; dst < pool.length; dst++) {
        if (src !== dst) pool[dst] = mix(pool[dst], hashmix(pool[src], hashConst));
      }
    }
    for (let src = pool.length; src < entropy.length; src++) {
      for (let dst = 0; dst < pool.length; dst++) {
        pool[dst] = mix(pool[dst], hashmix(entropy[src], hashConst));
      }
    }
    let hash = 0x8b51f9ddn;
    const words = [];
    for (let i = 0; i < 8; i++) {
      let value = pool[i % pool.length] ^ hash;
      hash = mul32(hash, 0x58f38dedn);
      value = mul32(value, hash);
      words.push(value ^ (value >> 16n));
    }
    const state = [];
    for (let i = 0; i < 4; i++) state.push(words[2 * i] | (words[2 * i + 1] << 32n));
    return state;
  }

  class PCG64 {
    constructor(seed) {
      const words = seedSequenceState(seed);
      const initState = (words[0] << 64n) | words[1];
      const initSeq = (words[2] << 64n) | words[3];
      this.inc = ((initSeq << 1n) | 1n) & MASK128;
      this.state = 0n;
      this.step();
      this.state = (this.state + initState) & MASK128;
      this.step();
    }

    step() {
      this.state = (this.state * PCG_MULTIPLIER + this.inc) & MASK128;
    }

    nextUint64() {
      this.step();
      const state = this.state;
      const rotation = state >> 122n;
      const folded = ((state >> 64n) ^ state) & MASK64;
      return ((folded >> rotation) | (folded << ((64n - rotation) & 63n))) & MASK64;
    }

    // Generator.random(): 53 random bits as a float in [0, 1)
    random() {
      return Number(this.nextUint64() >> 11n) * (1.0 / 9007199254740992.0);
    }
  }

  // -- sampling.py ----------------------------------------------------------------------------
  // np.sum of a float64 array: pairwise summation, blocks of 8 partial sums under 128 items
  function pairwiseSum(a, start, n) {
    if (n < 8) {
      let sum = 0.0;
      for (let i = 0; i < n; i++) sum += a[start + i];
      return sum;
    }
    if (n <= 128) {
      const r = [];
      for (let j = 0; j < 8; j++) r.push(a[start + j]);
      let i = 8;
      for (; i < n - (n % 8); i += 8) {
        for (let j = 0; j < 8; j++) r[j] += a[start + i + j];
      }
      let sum = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
      for (; i < n; i++) sum += a[start + i];
      return sum;
    }
    let half = Math.floor(n / 2);
    half -= half % 8;
    return pairwiseSum(a, start, half) + pairwiseSum(a, start + half, n - half);
  }

  function cumulativeSum(a) {
    const out = new Float64Array(a.length);
    let sum = 0.0;
    for (let i = 0; i < a.length; i++) {
      sum = i === 0 ? a[0] : sum + a[i];
      out[i] = sum;
    }
    return out;
  }

  // The first index whose value is >= target (left) or > target (right), as np.searchsorted
  function searchSorted(sorted, target, right) {
    let low = 0;
    let high = sorted.length;
    while (low < high) {
      const mid = (low + high) >> 1;
      if (right ? sorted[mid] <= target : sorted[mid] < target) low = mid + 1;
      else high = mid;
    }
    return low;
  }

  function distribution(logits, temperature, topP) {
    let max = -Infinity;
    for (const value of logits) if (value > max) max = value;
    let p = new Float64Array(logits.length);
    for (let i = 0; i < p.length; i++) p[i] = Math.exp((logits[i] - max) / temperature);
    const total = pairwiseSum(p, 0, p.length);
    for (let i = 0; i < p.length; i++) p[i] /= total;
    if (topP < 1.0) {
      const order = Array.from(p.keys()).sort((i, j) => p[j] - p[i] || i - j);
      const cumulative = cumulativeSum(order.map((i) => p[i]));
      const keep = order.slice(0, searchSorted(cumulative, topP, false) + 1);
      const nucleus = new Float64Array(p.length);
      for (const i of keep) nucleus[i] = p[i];
      const mass = pairwiseSum(nucleus, 0, nucleus.length);
      for (let i = 0; i < nucleus.length; i++) nucleus[i] /= mass;
      p = nucleus;
    }
    return p;
  }

  function choose(p, rng) {
    const cumulative = cumulativeSum(p);
    const index = searchSorted(cumulative, rng.random() * cumulative[p.length - 1], true);
    if (index === p.length) {
      for (let i = p.length - 1; i >= 0; i--) if (p[i] > 0) return i;
    }
    return index;
  }

  function argmax(values) {
    let best = 0;
    for (let i = 1; i < values.length; i++) if (values[i] > values[best]) best = i;
    return best;
  }

  function startIds(model, prompt) {
    if (prompt.length === 0) {
      return [model.index.has("\n") ? model.index.get("\n") : 0];
    }
    const ids = [];
    const unknown = [];
    for (const ch of prompt) {
      if (model.index.has(ch)) ids.push(model.index.get(ch));
      else if (!unknown.includes(ch)) unknown.push(ch);
    }
    if (unknown.length) {
      const shown = unknown.slice(0, 10).map((ch) => JSON.stringify(ch)).join(" ");
      throw new Error(
        `the prompt has ${unknown.length} character(s) not in the model's vocabulary: ${shown}`
      );
    }
    return ids;
  }

  // The ids `tui-rnn generate` draws after the prompt's ids
  function continuePrompt(model, promptIds, length, temperature, topP, seed) {
    const rng = new PCG64(seed);
    const state = zeroState(model);
    for (const x of promptIds.slice(0, -1)) step(model, state, x);
    let x = promptIds[promptIds.length - 1];
    const out = [];
    for (let i = 0; i < length; i++) {
      const logits = step(model, state, x);
      x = temperature === 0 ? argmax(logits) : choose(distribution(logits, temperature, topP), rng);
      out.push(x);
    }
    return out;
  }

  // What `tui-rnn generate` prints, without its final newline
  function generateText(model, prompt, length, temperature, topP, seed) {
    const ids = continuePrompt(model, startIds(model, prompt), length, temperature, topP, seed);
    return prompt + ids.map((i) => model.vocabulary[i]).join("");
  }

  const api = {
    loadModel,
    zeroState,
    step,
    PCG64,
    distribution,
    choose,
    startIds,
    continuePrompt,
    generateText,
  };
  if (typeof module !== "undefined" && module.exports) module.exports = api;
  else root.TuiRnnSampler = api;
})(typeof globalThis !== "undefined" ? globalThis : this);
