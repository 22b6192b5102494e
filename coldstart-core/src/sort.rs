//! One small sort for the report's short lists.
//!
//! `slice::sort_unstable_by` puts 6–7 KiB of machine code into every binary for each element type
//! it sorts (quicksort, heapsort and small-sort paths); the two lists sorted here (the `#[lazy]`
//! statics and the report's dominant costs) are short and sorted once per process, after the
//! first response. A heapsort is a few hundred bytes and stays O(n log n).

/// Sorts `items` in place so that no element is `is_less` than the one before it. Not stable:
/// give the comparison a total order.
///
/// The heapsort itself is [`heapsort`], compiled once; each element type only adds the two small
/// methods of [`Heap`] it reaches them through.
pub(crate) fn sort_by<T>(items: &mut [T], is_less: impl FnMut(&T, &T) -> bool) {
    heapsort(&mut Slice { items, is_less });
}

/// What [`heapsort`] needs of the list it sorts, by index.
trait Heap {
    fn len(&self) -> usize;
    fn is_less(&mut self, a: usize, b: usize) -> bool;
    fn swap(&mut self, a: usize, b: usize);
}

/// A slice and its comparison, as a [`Heap`].
struct Slice<'a, T, F> {
    items: &'a mut [T],
    is_less: F,
}

impl<T, F: FnMut(&T, &T) -> bool> Heap for Slice<'_, T, F> {
    fn len(&self) -> usize {
        self.items.len()
    }

    fn is_less(&mut self, a: usize, b: usize) -> bool {
        (self.is_less)(&self.items[a], &self.items[b])
    }

    fn swap(&mut self, a: usize, b: usize) {
        self.items.swap(a, b);
    }
}

/// The heapsort of [`sort_by`], over the first `len` elements of `heap` for each `sift_down`.
#[inline(never)]
fn heapsort(heap: &mut dyn Heap) {
    let sift_down = |heap: &mut dyn Heap, len: usize, mut node: usize| loop {
        let mut child = 2 * node + 1;
        if child >= len {
            break;
        }
        if child + 1 < len && heap.is_less(child, child + 1) {
            child += 1;
        }
        if !heap.is_less(node, child) {
            break;
        }
        heap.swap(node, child);
        node = child;
    };
    let len = heap.len();
    for node in (0..len / 2).rev() {
        sift_down(heap, len, node);
    }
    for end in (1..len).rev() {
        heap.swap(0, end);
        sift_down(heap, end, 0);
    }
}

#[cfg(test)]
mod tests {
    use super::sort_by;

    #[test]
    fn agrees_with_std_on_every_small_input_and_random_long_ones() {
        // Every sequence of length 0..=6 over 4 values, then long pseudo-random ones.
        let mut inputs: Vec<Vec<u8>> = Vec::new();
        for len in 0..=6u32 {
            for code in 0..4u32.pow(len) {
                inputs.push((0..len).map(|i| ((code / 4u32.pow(i)) % 4) as u8).collect());
            }
        }
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        for len in [100, 257, 1000] {
            inputs.push(
                (0..len)
                    .map(|_| {
                        state ^= state << 13;
                        state ^= state >> 7;
                        state ^= state << 17;
                        (state % 50) as u8
                    })
                    .collect(),
            );
        }
        for input in inputs {
            let mut ours = input.clone();
            sort_by(&mut ours, |a, b| a > b); // descending, as the report sorts
            let mut expected = input.clone();
            expected.sort_by(|a, b| b.cmp(a));
            assert_eq!(ours, expected, "{input:?}");
        }
    }
}
