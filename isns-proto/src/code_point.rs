//! The macro that turns one table per registry into an open newtype with named constants.

/// Declares an open newtype code point with one associated constant per table row.
///
/// Each row is `CONST = value, "display name";`. The type gets `name()` (the display name
/// when the number is known), `Debug` (name or number) and `Display`.
macro_rules! code_points {
    (
        $(#[$meta:meta])*
        pub struct $ty:ident($repr:ty);
        $( $(#[$cmeta:meta])* $konst:ident = $val:expr, $name:literal; )*
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $ty(pub $repr);

        impl $ty {
            $( $(#[$cmeta])* pub const $konst: $ty = $ty($val); )*

            /// Every named value of the table, in table order.
            pub const ALL: &'static [$ty] = &[$($ty::$konst),*];

            /// The display name when this number is in the table.
            #[must_use]
            pub const fn name(self) -> Option<&'static str> {
                match self.0 {
                    $( $val => Some($name), )*
                    _ => None,
                }
            }

            /// The raw wire number.
            #[must_use]
            pub const fn get(self) -> $repr {
                self.0
            }
        }

        impl core::fmt::Debug for $ty {
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                match self.name() {
                    Some(n) => write!(f, "{}({})", n, self.0),
                    None => write!(f, "{}({})", stringify!($ty), self.0),
                }
            }
        }

        impl core::fmt::Display for $ty {
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                match self.name() {
                    Some(n) => f.write_str(n),
                    None => write!(f, "{}", self.0),
                }
            }
        }

        impl From<$repr> for $ty {
            fn from(v: $repr) -> Self {
                $ty(v)
            }
        }

        impl From<$ty> for $repr {
            fn from(v: $ty) -> Self {
                v.0
            }
        }
    };
}
