// Compiles src/guest.rs to a WebAssembly module and embeds it; cargo runs
// this again only when the guest's files change.
fn main() {
    ferry_build::guest("src/guest.rs").build();
}
