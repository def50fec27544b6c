mod support;
use ferry_host::*;

#[test]
fn smoke() {
    let m = support::guest();
    let rt = Runtime::new(RuntimeConfig::default()).unwrap();
    let add = Closure::new(&m, "add").unwrap();
    let out = rt.call(&add, &Value::encode(&(40, 2)).unwrap(), &Sandbox::default()).unwrap();
    assert_eq!(out.value.decode::<i64>().unwrap(), 42);
    for f in ["boom", "spin", "hog"] {
        let c = Closure::new(&m, f).unwrap();
        let mut s = Sandbox::default();
        s.limits.timeout = std::time::Duration::from_millis(300);
        s.limits.memory = 64 << 20;
        let e = rt.call(&c, &Value::encode(&"hi").unwrap(), &s).unwrap_err();
        println!("{f}: {e}");
    }
    let c = Closure::new(&m, "chatter").unwrap();
    let e = rt.call(&c, &Value::encode(&100000).unwrap(), &Sandbox::default()).unwrap_err();
    println!("{e}");
    let c = Closure::new(&m, "read_file").unwrap();
    let e = rt.call(&c, &Value::encode(&"/etc/passwd").unwrap(), &Sandbox::default()).unwrap_err();
    println!("{e}");
}
