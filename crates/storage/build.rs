//! Links the crate's programs (`meridian-tables`, `meridian-buckets`, examples, tests) as `meridian` is linked.

fn main() {
    meridian_buildkit::pack_relative_relocations();
}
