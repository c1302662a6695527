//! Links the crate's programs (the edge and demo examples, tests) as `meridian` is linked.

fn main() {
    meridian_buildkit::pack_relative_relocations();
}
