//! One small sort for the report's short lists.
//!
//! `slice::sort_unstable_by` puts 6–7 KiB of machine code into every binary for each element type
//! it sorts (quicksort, heapsort and small-sort paths); the two lists sorted here (the `#[lazy]`
//! statics and the report's dominant costs) are short and sorted once per process, after the
//! first response. A heapsort is a few hundred bytes and stays O(n log n).

/// Sorts `items` in place so that no element is `is_less` than the one before it. Not stable:
/// give the comparison a total order.
pub(crate) fn sort_by<T>(items: &mut [T], mut is_less: impl FnMut(&T, &T) -> bool) {
    let mut sift_down = |items: &mut [T], mut node: usize| loop {
        let mut child = 2 * node + 1;
        if child >= items.len() {
            break;
        }
        if child + 1 < items.len() && is_less(&items[child], &items[child + 1]) {
            child += 1;
        }
        if !is_less(&items[node], &items[child]) {
            break;
        }
        items.swap(node, child);
        node = child;
    };
    for node in (0..items.len() / 2).rev() {
        sift_down(items, node);
    }
    for end in (1..items.len()).rev() {
        items.swap(0, end);
        sift_down(&mut items[..end], 0);
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
