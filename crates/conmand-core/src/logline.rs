//! TEMPORARY minimal log-line processor (to be replaced by h-core's logline).
#![allow(missing_docs)]

#[derive(Clone, Copy, PartialEq, Eq)]
enum St {
    Init,
    Data,
    Cr,
    Lf,
}

pub struct LineProcessor {
    sanitize: bool,
    timestamp: bool,
    st: St,
}

impl LineProcessor {
    pub fn new(sanitize: bool, timestamp: bool) -> Self {
        LineProcessor {
            sanitize,
            timestamp,
            st: St::Init,
        }
    }
    pub fn reset(&mut self) {
        self.st = St::Init;
    }
    pub fn process(&mut self, input: &[u8], ts: &[u8; 20], out: &mut Vec<u8>) {
        for &b in input {
            match b {
                b'\r' => match self.st {
                    St::Data => self.st = St::Cr,
                    St::Init => {
                        if self.timestamp {
                            out.extend_from_slice(ts)
                        }
                        self.st = St::Cr
                    }
                    _ => {}
                },
                b'\n' => {
                    if matches!(self.st, St::Init | St::Lf) && self.timestamp {
                        out.extend_from_slice(ts);
                    }
                    out.extend_from_slice(b"\r\n");
                    self.st = St::Lf;
                }
                0 if matches!(self.st, St::Cr | St::Lf) => {}
                _ => {
                    if self.st == St::Cr {
                        out.extend_from_slice(b"\r\n");
                    }
                    if self.st != St::Data && self.timestamp {
                        out.extend_from_slice(ts);
                    }
                    self.st = St::Data;
                    if self.sanitize {
                        let c = b & 0x7f;
                        let h = b & 0x80 != 0;
                        if c < 0x20 {
                            out.push(if h { b'~' } else { b'^' });
                            out.push(c + 0x40);
                        } else if c == 0x7f {
                            out.push(if h { b'~' } else { b'^' });
                            out.push(b'?');
                        } else if h {
                            out.push(b'`');
                            out.push(c);
                        } else {
                            out.push(c);
                        }
                    } else {
                        out.push(b);
                    }
                }
            }
        }
    }
}
