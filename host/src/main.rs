fn main() { println!("hearth"); }
