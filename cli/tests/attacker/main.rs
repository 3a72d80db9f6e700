//! A pull request's code attacks the machine it is built on: each module is one line of attack,
//! driven through the real `slipway` binary.

mod sandbox;
