//! Operator roles and what each may do on the admin API.

/// What an operator key may do. `admin` everything; `billing` money;
/// `support` account care (PBX host, passwords, suspension); `readonly` reads.
/// Every role reads everything.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Admin,
    Billing,
    Support,
    Readonly,
}

/// The kind of access an admin endpoint needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Read,
    /// Credits, adjustments.
    Money,
    /// PBX host, password resets, suspend and unsuspend.
    Care,
    /// Anything else that writes: creating and deleting accounts, inventory.
    Manage,
}

impl Role {
    pub const ALL: [Role; 4] = [Role::Admin, Role::Billing, Role::Support, Role::Readonly];

    pub fn parse(text: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.code() == text)
    }

    pub fn code(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Billing => "billing",
            Role::Support => "support",
            Role::Readonly => "readonly",
        }
    }

    pub fn allows(self, access: Access) -> bool {
        matches!(
            (self, access),
            (Role::Admin, _)
                | (_, Access::Read)
                | (Role::Billing, Access::Money)
                | (Role::Support, Access::Care)
        )
    }
}

impl Access {
    /// The narrowest role that grants this access: what a 403 names.
    pub fn least_role(self) -> Role {
        match self {
            Access::Read => Role::Readonly,
            Access::Money => Role::Billing,
            Access::Care => Role::Support,
            Access::Manage => Role::Admin,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_grant_what_the_issue_lists() {
        use Access::*;
        let table = [
            (Role::Admin, [true, true, true, true]),
            (Role::Billing, [true, true, false, false]),
            (Role::Support, [true, false, true, false]),
            (Role::Readonly, [true, false, false, false]),
        ];
        for (role, expected) in table {
            for (access, allowed) in [Read, Money, Care, Manage].into_iter().zip(expected) {
                assert_eq!(role.allows(access), allowed, "{role:?} {access:?}");
                assert!(access.least_role().allows(access));
            }
            assert_eq!(Role::parse(role.code()), Some(role));
        }
        assert_eq!(Role::parse("root"), None);
    }
}
