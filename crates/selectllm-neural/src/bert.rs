//! A BERT-family encoder in candle's shape (`Config` mirrors `config.json`, each layer has
//! `load(vb, cfg)` and `forward`). Two execution modes: `Infer` uses candle's fused CPU kernels
//! (layer norm, last-dim softmax) which have no backward pass; `Train` uses differentiable
//! decompositions of the same functions so the encoder can be fine-tuned.

use std::sync::Arc;

use candle_core::{D, DType, Module, Result, Tensor};
use candle_nn::VarBuilder;
use serde::Deserialize;

use crate::int8::QuantDense;

/// The fields of a BERT `config.json` that the encoder uses.
#[derive(Debug, Clone, Deserialize)]
pub struct BertConfig {
    pub vocab_size: usize,
    pub hidden_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    pub intermediate_size: usize,
    #[serde(default = "default_act")]
    pub hidden_act: String,
    pub max_position_embeddings: usize,
    #[serde(default = "default_type_vocab")]
    pub type_vocab_size: usize,
    #[serde(default = "default_eps")]
    pub layer_norm_eps: f64,
    #[serde(default)]
    pub model_type: Option<String>,
}

fn default_act() -> String {
    "gelu".into()
}
fn default_type_vocab() -> usize {
    2
}
fn default_eps() -> f64 {
    1e-12
}

/// Whether the forward pass must support backpropagation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exec {
    Infer,
    Train,
}

/// A dense layer applied to the last dimension, with one 2-D matmul for any leading shape.
#[derive(Debug, Clone)]
pub(crate) struct Dense {
    w_t: Tensor,
    pub(crate) b: Tensor,
    /// The int8 weights, when the encoder runs at int8 precision (packed inference only).
    int8: Option<Arc<QuantDense>>,
}

impl Dense {
    fn load(vb: VarBuilder, in_dim: usize, out_dim: usize) -> Result<Self> {
        let w = vb.get((out_dim, in_dim), "weight")?;
        let b = vb.get(out_dim, "bias")?;
        // Inference weights are stored transposed, contiguous: in the matmul `x w^T` gemm
        // (which computes the transposed product for a row-major output) then reads them as a
        // column-major left operand and need not repack them on every call, which halves the
        // time of a single question. A trained variable stays a view, so that its updates are
        // seen by the forward pass.
        let w_t = if w.is_variable() {
            w.t()?
        } else {
            w.t()?.contiguous()?
        };
        Ok(Self { w_t, b, int8: None })
    }

    /// `x w^T` without the bias, for a 2-D `x` (rows, in); at int8 when the layer is quantized.
    pub(crate) fn matmul_2d(&self, x: &Tensor) -> Result<Tensor> {
        match &self.int8 {
            Some(q) => x.contiguous()?.apply_op1_no_bwd(q.as_ref()),
            None => x.matmul(&self.w_t),
        }
    }

    fn quantize_int8(&mut self) -> Result<()> {
        let (k, n) = self.w_t.dims2()?;
        let w = self
            .w_t
            .t()?
            .contiguous()?
            .flatten_all()?
            .to_vec1::<f32>()?;
        self.int8 = Some(Arc::new(QuantDense::new(&w, n, k)));
        Ok(())
    }
}

impl Module for Dense {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let dims = x.dims().to_vec();
        let in_dim = dims[dims.len() - 1];
        let rows: usize = dims[..dims.len() - 1].iter().product();
        let y = x.reshape((rows, in_dim))?.matmul(&self.w_t)?;
        let y = y.broadcast_add(&self.b)?;
        let mut out = dims;
        let last = out.len() - 1;
        out[last] = self.b.dim(0)?;
        y.reshape(out)
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Norm {
    w: Tensor,
    b: Tensor,
    eps: f64,
}

impl Norm {
    fn load(vb: VarBuilder, dim: usize, eps: f64) -> Result<Self> {
        // Old checkpoints name them gamma/beta.
        let w = vb.get(dim, "weight").or_else(|_| vb.get(dim, "gamma"))?;
        let b = vb.get(dim, "bias").or_else(|_| vb.get(dim, "beta"))?;
        Ok(Self { w, b, eps })
    }

    pub(crate) fn forward(&self, x: &Tensor, exec: Exec) -> Result<Tensor> {
        match exec {
            Exec::Infer => {
                candle_nn::ops::layer_norm(&x.contiguous()?, &self.w, &self.b, self.eps as f32)
            }
            Exec::Train => {
                let mean = x.mean_keepdim(D::Minus1)?;
                let xc = x.broadcast_sub(&mean)?;
                let var = xc.sqr()?.mean_keepdim(D::Minus1)?;
                let xn = xc.broadcast_div(&(var + self.eps)?.sqrt()?)?;
                xn.broadcast_mul(&self.w)?.broadcast_add(&self.b)
            }
        }
    }
}

fn softmax_last(x: &Tensor, exec: Exec) -> Result<Tensor> {
    match exec {
        Exec::Infer => candle_nn::ops::softmax_last_dim(x),
        Exec::Train => candle_nn::ops::softmax(x, D::Minus1),
    }
}

#[derive(Clone)]
pub(crate) struct Layer {
    pub(crate) q: Dense,
    pub(crate) k: Dense,
    pub(crate) v: Dense,
    attn_out: Dense,
    attn_norm: Norm,
    inter: Dense,
    out: Dense,
    out_norm: Norm,
    pub(crate) heads: usize,
    pub(crate) head_dim: usize,
    exact_gelu: bool,
}

impl Layer {
    fn quantize_int8(&mut self) -> Result<()> {
        for d in [
            &mut self.q,
            &mut self.k,
            &mut self.v,
            &mut self.attn_out,
            &mut self.inter,
            &mut self.out,
        ] {
            d.quantize_int8()?;
        }
        Ok(())
    }

    fn load(vb: VarBuilder, c: &BertConfig) -> Result<Self> {
        let h = c.hidden_size;
        let att = vb.pp("attention");
        let s = att.pp("self");
        Ok(Self {
            q: Dense::load(s.pp("query"), h, h)?,
            k: Dense::load(s.pp("key"), h, h)?,
            v: Dense::load(s.pp("value"), h, h)?,
            attn_out: Dense::load(att.pp("output").pp("dense"), h, h)?,
            attn_norm: Norm::load(att.pp("output").pp("LayerNorm"), h, c.layer_norm_eps)?,
            inter: Dense::load(vb.pp("intermediate").pp("dense"), h, c.intermediate_size)?,
            out: Dense::load(vb.pp("output").pp("dense"), c.intermediate_size, h)?,
            out_norm: Norm::load(vb.pp("output").pp("LayerNorm"), h, c.layer_norm_eps)?,
            heads: c.num_attention_heads,
            head_dim: h / c.num_attention_heads,
            exact_gelu: c.hidden_act == "gelu",
        })
    }

    /// `x`: (batch, seq, hidden); `mask`: additive (batch, 1, 1, seq).
    fn forward(&self, x: &Tensor, mask: &Tensor, exec: Exec) -> Result<Tensor> {
        let (b, s, _) = x.dims3()?;
        let split = |t: Tensor| -> Result<Tensor> {
            t.reshape((b, s, self.heads, self.head_dim))?
                .transpose(1, 2)?
                .contiguous()
        };
        let q = split(self.q.forward(x)?)?;
        let k = split(self.k.forward(x)?)?;
        let v = split(self.v.forward(x)?)?;
        let scale = 1.0 / (self.head_dim as f64).sqrt();
        let scores = (q.matmul(&k.t()?)? * scale)?.broadcast_add(mask)?;
        let probs = softmax_last(&scores, exec)?;
        let ctx = probs
            .matmul(&v)?
            .transpose(1, 2)?
            .reshape((b, s, self.heads * self.head_dim))?;
        self.after_attention(&ctx, x, exec, false)
    }

    /// Attention output projection, residual + norm, feed-forward, residual + norm: everything
    /// after the attention context, for any leading shape of `ctx` and `x`. `fused` (packed
    /// inference on the CPU, 2-D inputs): bias + residual and bias + exact GELU each in one
    /// vectorized kernel instead of candle's elementwise ops.
    pub(crate) fn after_attention(
        &self,
        ctx: &Tensor,
        x: &Tensor,
        exec: Exec,
        fused: bool,
    ) -> Result<Tensor> {
        let fused = fused && exec == Exec::Infer && x.device().is_cpu();
        let a = if fused {
            let y = self.attn_out.matmul_2d(ctx)?.apply_op3_no_bwd(
                &self.attn_out.b,
                x,
                &crate::kernels::BiasResidual,
            )?;
            self.attn_norm.forward(&y, exec)?
        } else {
            self.attn_norm
                .forward(&(self.attn_out.forward(ctx)? + x)?, exec)?
        };
        if fused && self.exact_gelu {
            let i = self
                .inter
                .matmul_2d(&a)?
                .apply_op2_no_bwd(&self.inter.b, &crate::kernels::BiasGeluErf)?;
            let o = self.out.matmul_2d(&i)?.apply_op3_no_bwd(
                &self.out.b,
                &a,
                &crate::kernels::BiasResidual,
            )?;
            return self.out_norm.forward(&o, exec);
        }
        let i = self.inter.forward(&a)?;
        let i = if self.exact_gelu {
            i.gelu_erf()?
        } else {
            i.gelu()?
        };
        self.out_norm.forward(&(self.out.forward(&i)? + a)?, exec)
    }
}

/// The BERT encoder: embeddings plus transformer layers (the pooler is not used). Cloning
/// shares the weights.
#[derive(Clone)]
pub struct Bert {
    pub(crate) word: Tensor,
    pub(crate) position: Tensor,
    pub(crate) token_type: Tensor,
    pub(crate) emb_norm: Norm,
    pub(crate) layers: Vec<Layer>,
}

impl Bert {
    /// Loads weights under `vb`; accepts both `embeddings.*` and `bert.embeddings.*` layouts.
    pub fn load(vb: VarBuilder, c: &BertConfig) -> Result<Self> {
        let vb = if vb.contains_tensor("embeddings.word_embeddings.weight") {
            vb
        } else {
            vb.pp("bert")
        };
        let e = vb.pp("embeddings");
        let h = c.hidden_size;
        let layers = (0..c.num_hidden_layers)
            .map(|i| Layer::load(vb.pp("encoder").pp("layer").pp(i.to_string()), c))
            .collect::<Result<Vec<_>>>()?;
        Ok(Self {
            word: e.pp("word_embeddings").get((c.vocab_size, h), "weight")?,
            position: e
                .pp("position_embeddings")
                .get((c.max_position_embeddings, h), "weight")?,
            token_type: e
                .pp("token_type_embeddings")
                .get((c.type_vocab_size, h), "weight")?,
            emb_norm: Norm::load(e.pp("LayerNorm"), h, c.layer_norm_eps)?,
            layers,
        })
    }

    /// Quantizes every dense layer to int8 for packed inference (the padded and training paths
    /// keep the f32 weights).
    pub fn quantize_int8(&mut self) -> Result<()> {
        self.layers.iter_mut().try_for_each(Layer::quantize_int8)
    }

    /// Token states (batch, seq, hidden) for `ids` (batch, seq, u32) and a 0/1 `mask` (batch, seq, f32).
    pub fn forward(&self, ids: &Tensor, mask: &Tensor, exec: Exec) -> Result<Tensor> {
        let (b, s) = ids.dims2()?;
        let flat = ids.flatten_all()?;
        let words = self.word.index_select(&flat, 0)?.reshape((b, s, ()))?;
        let pos = self.position.narrow(0, 0, s)?;
        let tt = self.token_type.narrow(0, 0, 1)?;
        let x = words.broadcast_add(&pos)?.broadcast_add(&tt)?;
        let mut x = self.emb_norm.forward(&x, exec)?;
        // 0 where attended, a large negative number on padding.
        let add_mask = ((mask.ones_like()? - mask)? * -1e9)?
            .to_dtype(DType::F32)?
            .reshape((b, 1, 1, s))?;
        for layer in &self.layers {
            x = layer.forward(&x, &add_mask, exec)?;
        }
        Ok(x)
    }
}

/// Mean of the token states over the attention mask: (batch, hidden).
pub fn mean_pool(states: &Tensor, mask: &Tensor) -> Result<Tensor> {
    let m = mask.unsqueeze(2)?;
    let summed = states.broadcast_mul(&m)?.sum(1)?;
    let counts = m.sum(1)?.clamp(1e-9, f64::MAX)?;
    summed.broadcast_div(&counts)
}
