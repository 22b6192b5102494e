use coldstart::lazy;
use std::cell::Cell;

#[lazy]
static HITS: Cell<u32> = Cell::new(0);

fn main() {
    HITS.set(1);
}
