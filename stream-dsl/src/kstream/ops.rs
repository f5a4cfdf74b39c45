//! The stateless operators, each a small [`Processor`].

use std::marker::PhantomData;
use std::sync::Arc;

use crate::error::Result;
use crate::processor::{Data, Processor, ProcessorContext};
use crate::record::{Header, Record};

pub(crate) struct Filter<F> {
    pub f: Arc<F>,
    pub keep_when: bool,
}

impl<K: Data, V: Data, F: Fn(&K, &V) -> bool + 'static> Processor<K, V, K, V> for Filter<F> {
    fn process(&mut self, ctx: &mut ProcessorContext<K, V>, r: Record<K, V>) -> Result<()> {
        if (self.f)(&r.key, &r.value) == self.keep_when {
            ctx.forward(r)
        } else {
            Ok(())
        }
    }
}

pub(crate) struct Map<F, K2, V2> {
    pub f: Arc<F>,
    pub _out: PhantomData<fn() -> (K2, V2)>,
}

impl<K: Data, V: Data, K2: Data, V2: Data, F: Fn(K, V) -> (K2, V2) + 'static> Processor<K, V, K2, V2>
    for Map<F, K2, V2>
{
    fn process(&mut self, ctx: &mut ProcessorContext<K2, V2>, r: Record<K, V>) -> Result<()> {
        let (k, v) = (self.f)(r.key, r.value);
        ctx.forward(Record {
            key: k,
            value: v,
            timestamp: r.timestamp,
            headers: r.headers,
        })
    }
}

pub(crate) struct MapValues<F, V2> {
    pub f: Arc<F>,
    pub _out: PhantomData<fn() -> V2>,
}

impl<K: Data, V: Data, V2: Data, F: Fn(V) -> V2 + 'static> Processor<K, V, K, V2> for MapValues<F, V2> {
    fn process(&mut self, ctx: &mut ProcessorContext<K, V2>, r: Record<K, V>) -> Result<()> {
        let v = (self.f)(r.value);
        ctx.forward(Record {
            key: r.key,
            value: v,
            timestamp: r.timestamp,
            headers: r.headers,
        })
    }
}

pub(crate) struct SelectKey<F, K2> {
    pub f: Arc<F>,
    pub _out: PhantomData<fn() -> K2>,
}

impl<K: Data, V: Data, K2: Data, F: Fn(&K, &V) -> K2 + 'static> Processor<K, V, K2, V> for SelectKey<F, K2> {
    fn process(&mut self, ctx: &mut ProcessorContext<K2, V>, r: Record<K, V>) -> Result<()> {
        let k = (self.f)(&r.key, &r.value);
        ctx.forward(Record {
            key: k,
            value: r.value,
            timestamp: r.timestamp,
            headers: r.headers,
        })
    }
}

/// A flat map's headers for each record it makes. Most records have none, and cloning an
/// empty `Vec` was still an out-of-line call per output record (half a percent of a word
/// count).
#[inline]
fn copy_headers(headers: &[Header]) -> Vec<Header> {
    if headers.is_empty() {
        Vec::new()
    } else {
        headers.to_vec()
    }
}

pub(crate) struct FlatMap<F, K2, V2> {
    pub f: Arc<F>,
    pub _out: PhantomData<fn() -> (K2, V2)>,
}

impl<K, V, K2, V2, F, I> Processor<K, V, K2, V2> for FlatMap<F, K2, V2>
where
    K: Data,
    V: Data,
    K2: Data,
    V2: Data,
    F: Fn(K, V) -> I + 'static,
    I: IntoIterator<Item = (K2, V2)>,
{
    fn process(&mut self, ctx: &mut ProcessorContext<K2, V2>, r: Record<K, V>) -> Result<()> {
        for (k, v) in (self.f)(r.key, r.value) {
            ctx.forward(Record {
                key: k,
                value: v,
                timestamp: r.timestamp,
                headers: copy_headers(&r.headers),
            })?;
        }
        Ok(())
    }
}

pub(crate) struct FlatMapValues<F, V2> {
    pub f: Arc<F>,
    pub _out: PhantomData<fn() -> V2>,
}

impl<K, V, V2, F, I> Processor<K, V, K, V2> for FlatMapValues<F, V2>
where
    K: Data,
    V: Data,
    V2: Data,
    F: Fn(V) -> I + 'static,
    I: IntoIterator<Item = V2>,
{
    fn process(&mut self, ctx: &mut ProcessorContext<K, V2>, r: Record<K, V>) -> Result<()> {
        for v in (self.f)(r.value) {
            ctx.forward(Record {
                key: r.key.clone(),
                value: v,
                timestamp: r.timestamp,
                headers: copy_headers(&r.headers),
            })?;
        }
        Ok(())
    }
}

/// `peek` (forwards) and `foreach` (a terminal node: nothing is attached after it).
pub(crate) struct Peek<F> {
    pub f: Arc<F>,
}

impl<K: Data, V: Data, F: Fn(&K, &V) + 'static> Processor<K, V, K, V> for Peek<F> {
    fn process(&mut self, ctx: &mut ProcessorContext<K, V>, r: Record<K, V>) -> Result<()> {
        (self.f)(&r.key, &r.value);
        ctx.forward(r)
    }
}

/// Merge points and branch children: forwards as is.
pub(crate) struct PassThrough;

impl<K: Data, V: Data> Processor<K, V, K, V> for PassThrough {
    fn process(&mut self, ctx: &mut ProcessorContext<K, V>, r: Record<K, V>) -> Result<()> {
        ctx.forward(r)
    }
}

pub(crate) type Predicate<K, V> = Arc<dyn Fn(&K, &V) -> bool + Send + Sync>;

/// `split`: the first matching predicate's branch gets the record; else the default branch
/// (child `predicates.len()`) when there is one, else it is dropped.
pub(crate) struct Branch<K, V> {
    pub predicates: Arc<Vec<Predicate<K, V>>>,
    pub default_branch: bool,
}

impl<K: Data, V: Data> Processor<K, V, K, V> for Branch<K, V> {
    fn process(&mut self, ctx: &mut ProcessorContext<K, V>, r: Record<K, V>) -> Result<()> {
        match self.predicates.iter().position(|p| p(&r.key, &r.value)) {
            Some(i) => ctx.forward_to(i, r),
            None if self.default_branch => ctx.forward_to(self.predicates.len(), r),
            None => Ok(()),
        }
    }
}
