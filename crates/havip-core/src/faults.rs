//! Fault injection: an operator arms "the next N calls of action A fail with fault F", so
//! users can exercise their retry logic. Kept in memory per node; the fast path is one atomic
//! load when nothing is armed.

use crate::error::InjectedFault;
use crate::types::Cloud;
use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};

/// Armed faults by (cloud, action name as the cloud spells it).
#[derive(Default)]
pub struct Faults {
    armed: AtomicBool,
    table: Mutex<HashMap<(Cloud, String), (InjectedFault, u32)>>,
}

impl Faults {
    /// Makes the next `count` calls of `action` fail with `fault`.
    pub fn arm(&self, cloud: Cloud, action: &str, fault: InjectedFault, count: u32) {
        let mut t = self.table.lock();
        if count == 0 {
            t.remove(&(cloud, action.to_string()));
        } else {
            t.insert((cloud, action.to_string()), (fault, count));
        }
        self.armed.store(!t.is_empty(), Ordering::Release);
    }

    /// Disarms everything.
    pub fn clear(&self) {
        self.table.lock().clear();
        self.armed.store(false, Ordering::Release);
    }

    /// Consumes one armed fault for this call, if any.
    pub fn take(&self, cloud: Cloud, action: &str) -> Option<InjectedFault> {
        if !self.armed.load(Ordering::Acquire) {
            return None;
        }
        let mut t = self.table.lock();
        let key = (cloud, action.to_string());
        let (fault, left) = t.get_mut(&key)?;
        let fault = *fault;
        *left -= 1;
        if *left == 0 {
            t.remove(&key);
        }
        self.armed.store(!t.is_empty(), Ordering::Release);
        Some(fault)
    }

    /// What is armed, for the admin API.
    pub fn list(&self) -> Vec<(Cloud, String, InjectedFault, u32)> {
        self.table
            .lock()
            .iter()
            .map(|((c, a), (f, n))| (*c, a.clone(), *f, *n))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn armed_fault_fires_exactly_count_times() {
        let f = Faults::default();
        f.arm(Cloud::Aliyun, "CreateHaVip", InjectedFault::SystemBusy, 2);
        assert_eq!(f.take(Cloud::Aliyun, "DescribeHaVips"), None);
        assert_eq!(
            f.take(Cloud::Aliyun, "CreateHaVip"),
            Some(InjectedFault::SystemBusy)
        );
        assert_eq!(f.take(Cloud::Tencent, "CreateHaVip"), None);
        assert_eq!(
            f.take(Cloud::Aliyun, "CreateHaVip"),
            Some(InjectedFault::SystemBusy)
        );
        assert_eq!(f.take(Cloud::Aliyun, "CreateHaVip"), None);
    }
}
