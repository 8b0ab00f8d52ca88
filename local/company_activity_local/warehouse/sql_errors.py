"""SQL Server error numbers: the ones the DuckDB engine raises (as SQL Server would, with the same number, so
`ERROR_NUMBER()` in a CATCH block and `WarehouseError.number` mean the same on both engines) and the ones
callers react to. Numbers and texts are SQL Server's (`sys.messages`, "Database engine events and errors").
"""

from __future__ import annotations

from enum import IntEnum


class SqlErrorNumber(IntEnum):
    EXPECTS_PARAMETER = 201  # Procedure or function '%s' expects parameter '%s', which was not supplied.
    INVALID_OBJECT_NAME = 208  # Invalid object name '%s'.
    DATE_CONVERSION_FAILED = 241  # Conversion failed when converting date and/or time from character string.
    CONVERSION_FAILED = 245  # Conversion failed when converting ...
    CONVERSION_OVERFLOW = 248  # The conversion of the varchar value '%s' overflowed an int column.
    TRANCOUNT_MISMATCH = 266  # Transaction count after EXECUTE indicates a mismatching number of BEGIN and COMMIT
    SUBQUERY_MULTIPLE_ROWS = 512  # Subquery returned more than 1 value. ...
    CANNOT_INSERT_NULL = 515  # Cannot insert the value NULL into column ...
    DATE_OVERFLOW = 517  # Adding a value to a 'date' column caused an overflow.
    DATEDIFF_OVERFLOW = 535  # The datediff function resulted in an overflow. ...
    CONSTRAINT_CONFLICT = 547  # The INSERT statement conflicted with the CHECK constraint ...
    APPLOCK_OUTSIDE_TRANSACTION = 1223  # ... transactional application lock without an active transaction.
    APPLOCK_NOT_HELD = 1223  # Cannot release the application lock ... because it is not currently held.
    PRIMARY_KEY_VIOLATION = 2627  # Violation of PRIMARY KEY constraint ...
    STRING_TRUNCATED = 2628  # String or binary data would be truncated in table '%s', column '%s'.
    OBJECT_EXISTS = 2714  # There is already an object named '%s' in the database.
    SCHEMA_NOT_FOUND = 2760  # The specified schema name "%s" either does not exist or you do not have permission
    PROCEDURE_NOT_FOUND = 2812  # Could not find stored procedure '%s'.
    COMMIT_WITHOUT_BEGIN = 3902  # The COMMIT TRANSACTION request has no corresponding BEGIN TRANSACTION.
    ROLLBACK_WITHOUT_BEGIN = 3903  # The ROLLBACK TRANSACTION request has no corresponding BEGIN TRANSACTION.
    UNCOMMITTABLE_TRANSACTION = 3930  # The current transaction cannot be committed ...
    DIVIDE_BY_ZERO = 8134  # Divide by zero error encountered.
    TYPE_CONVERSION_ERROR = 8114  # Error converting data type %ls to %ls.
    ARITHMETIC_OVERFLOW = 8115  # Arithmetic overflow error converting %ls to data type %ls.
    NOT_A_PARAMETER = 8145  # %s is not a parameter for procedure %s.
    MERGE_DUPLICATE = 8672  # The MERGE statement attempted to UPDATE or DELETE the same row more than once.
    ROLE_EXISTS = 15023  # User, group, or role '%s' already exists in the current database.
    PRINCIPAL_NOT_FOUND = 15151  # Cannot find the %s '%s', because it does not exist or you do not have permission.
    THROW_NUMBER_OUT_OF_RANGE = 35100  # Error number %ld in the THROW statement is outside the valid range.
    USER_DEFINED = 50000  # the lowest number THROW accepts; also the number of a RAISERROR with a message only
