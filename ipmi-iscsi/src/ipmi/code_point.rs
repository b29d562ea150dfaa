//! The macro that turns one table into an open code-point newtype.

/// Declares an open newtype over an integer with named constants, a display name per
/// constant, `Debug` that prints the name when known (the number otherwise) and `Display`.
///
/// Unknown values are legal: they pass through byte for byte.
macro_rules! code_points {
    (
        $(#[$meta:meta])*
        $vis:vis struct $name:ident($ty:ty);
        $(
            $(#[$cmeta:meta])*
            $konst:ident = $val:literal, $label:literal;
        )*
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        $vis struct $name(pub $ty);

        impl $name {
            $(
                $(#[$cmeta])*
                pub const $konst: Self = Self($val);
            )*

            /// Every named value, in table order.
            pub const KNOWN: &'static [Self] = &[$(Self::$konst),*];

            /// The display name of a known value, `None` for an unknown one.
            #[must_use]
            pub const fn name(self) -> Option<&'static str> {
                match self.0 {
                    $($val => Some($label),)*
                    _ => None,
                }
            }
        }

        impl ::core::fmt::Debug for $name {
            fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                match self.name() {
                    Some(n) => write!(f, "{}({:#04x} {})", stringify!($name), self.0, n),
                    None => write!(f, "{}({:#04x})", stringify!($name), self.0),
                }
            }
        }

        impl ::core::fmt::Display for $name {
            fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                match self.name() {
                    Some(n) => write!(f, "{} ({:#04x})", n, self.0),
                    None => write!(f, "{:#04x}", self.0),
                }
            }
        }

        impl From<$ty> for $name {
            fn from(v: $ty) -> Self {
                Self(v)
            }
        }

        impl From<$name> for $ty {
            fn from(v: $name) -> $ty {
                v.0
            }
        }
    };
}

pub(crate) use code_points;
